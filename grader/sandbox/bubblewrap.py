"""The bubblewrap command line: a read-only machine with one writable folder, no network, no privileges.

Inside, the submission's root folder is `/sandbox`; every other path is the host's, read-only, except a
private `/tmp` and `/dev/shm` (size-capped tmpfs), fresh `/dev` and `/proc`, and the hidden paths, which
are empty read-only tmpfs (or /dev/null for a file). `/run` is always hidden: it holds the sockets of
docker, containerd and D-Bus, which a read-only mount does not stop anyone from connecting to.

The root of the sandbox is bwrap's own tmpfs with each top-level entry of `/` bound into it, rather than
`--ro-bind / /`, so that `/sandbox` can be created there without touching the host.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

SANDBOX = "/sandbox"
NOBODY = "65534"
ALWAYS_HIDDEN = ("/run", "/var/run")
_FRESH = {"dev", "proc", "tmp", SANDBOX.lstrip("/")}
_HIDE, _BIND_BACK = 0, 1


@functools.cache
def _executable() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def _supports(option: str) -> bool:
    """Whether this bwrap knows `option` (--size and --disable-userns came in 0.7/0.8)."""
    exe = _executable()
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in done.stdout


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


def _cover_ops(hide: Sequence[Path]) -> tuple[list[str], list[str]]:
    """Mounts that hide paths, and bind the interpreter back where a hidden folder or /tmp covers it.

    Sorted by depth, so a deeper mount lands on top of a shallower one: a hidden folder inside
    site-packages stays hidden, and site-packages inside a hidden home folder stays visible.
    Returns the mount options and the hidden folders to make read-only once everything is mounted.
    """
    hidden = {Path(os.path.realpath(p)) for p in (*hide, *ALWAYS_HIDDEN)}
    hidden = {p for p in hidden if os.path.lexists(p)}
    covers = [*hidden, Path("/tmp")]
    python = _python_paths()
    ops: list[tuple[int, int, Path]] = [(len(p.parts), _HIDE, p) for p in hidden]
    for path in python:
        cover = max((c for c in covers if _within(path, c)), key=lambda c: len(c.parts), default=None)
        if cover is None:
            continue
        if any(q != path and _within(path, q) and _within(q, cover) for q in python):
            continue  # an enclosing interpreter folder is bound back already
        ops.append((len(path.parts), _BIND_BACK, path))
    args, read_only = [], []
    for _, kind, path in sorted(ops):
        if kind == _BIND_BACK:
            args += ["--ro-bind", str(path), str(path)]
        elif path.is_dir() and not path.is_symlink():
            args += ["--tmpfs", str(path)]
            read_only.append(str(path))
        else:
            args += ["--dev-bind", "/dev/null", str(path)]  # a plain bind is nodev: reads would fail
    return args, read_only


def _host_root() -> list[str]:
    """Bind each top-level entry of `/` read-only (bwrap also makes the mounts below them read-only)."""
    args = []
    for name in sorted(os.listdir("/")):
        path = f"/{name}"
        if name in _FRESH:
            continue
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path) or os.path.isfile(path):
            args += ["--ro-bind-try", path, path]
    return args


def _sized_tmpfs(path: str, size_mb: int) -> list[str]:
    size = ["--size", str(size_mb * 1024 * 1024)] if _supports("--size") else []
    return [*size, "--tmpfs", path]


def command(root: Path, argv: Sequence[str], *, readonly: Sequence[str], hide: Sequence[Path], cwd: str,
            gpu: bool, tmpfs_mb: int) -> list[str]:
    """The bwrap command that runs `argv` with `root` at /sandbox; `readonly` and `cwd` are relative."""
    exe = _executable()
    if exe is None:
        raise FileNotFoundError("bwrap is not installed")
    args = [exe, "--unshare-user", "--uid", NOBODY, "--gid", NOBODY, "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL"]
    if _supports("--disable-userns"):
        args.append("--disable-userns")
    args += _host_root()
    args += ["--dev", "/dev", "--proc", "/proc"]
    if gpu:
        for device in sorted(glob.glob("/dev/nvidia*")):
            args += ["--dev-bind", device, device]
    args += _sized_tmpfs("/dev/shm", tmpfs_mb) + _sized_tmpfs("/tmp", tmpfs_mb)
    covers, hidden = _cover_ops(hide)
    args += covers
    args += ["--bind", str(root), SANDBOX]
    for name in readonly:
        args += ["--ro-bind", str(root / name), f"{SANDBOX}/{name}"]
    for path in ["/dev", *hidden, "/"]:
        args += ["--remount-ro", path]
    args += ["--chdir", SANDBOX if cwd in ("", ".") else f"{SANDBOX}/{cwd}", "--", *argv]
    return args


def describe() -> str:
    """What bubblewrap enforces here, as a phrase for the isolation line."""
    parts = ["ro root", "no network", "pid+user ns", "caps dropped"]
    if not _supports("--size"):
        parts.append("/tmp not size-capped (old bwrap)")
    text = ", ".join(parts)
    if os.geteuid() == 0:  # the sandbox user maps to host root: DAC still lets it read root-only files
        text += "; grader runs as root, so root-only files stay readable unless hidden"
    return f"bubblewrap ({text})"


@functools.cache
def problem() -> str:
    """"" when bubblewrap really works here (one trial run of `true`), else why not, in one line."""
    if _executable() is None:
        return "bwrap is not installed"
    with tempfile.TemporaryDirectory(prefix="unet-grader-probe-") as tmp:
        trial = command(Path(tmp), ["true"], readonly=(), hide=(), cwd="", gpu=False, tmpfs_mb=16)
        try:
            done = subprocess.run(trial, capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap did not run: {exc}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"bwrap failed: {lines[-1] if lines else f'exit code {done.returncode}'}"
    return ""
