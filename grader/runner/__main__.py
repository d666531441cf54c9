"""The in-sandbox supervisor: read the plan on stdin, then fork one child per stage; outputs leave on fd 3.

It makes itself non-dumpable first, so no student process (same user, no capabilities) can trace it or open
its memory or descriptors, and the subreaper of everything it starts, so no daemon leaves its subtree. Stage
k's task and inputs are read from stdin only when stage k starts, written into a fresh folder of the scratch
space and the buffer zeroed before the fork, so no stage holds another stage's inputs. Numpy-only stages come
first in the plan and are forked before torch is imported. After a stage ends, every other process of the
sandbox is killed, the supervisor reads the stage's output folder itself (no link, no FIFO, nothing over its
cap) and sends it with the stage's status and capped log as frames; then it wipes the stage's folder, /tmp and
/dev/shm. Forking is safe because this process only imports torch and never computes with it (a fork after
torch has run a parallel op hangs the child).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import resource
import select
import shutil
import signal
import stat
import sys
import time
from pathlib import Path

from .protocol import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_INPUT_BYTES,
    MAX_LOG_BYTES,
    Plan,
    ProtocolError,
    StagePlan,
    read_frame,
    safe_name,
    split_files,
    write_frame,
)

MEMORY_EXIT = 86
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CHANNEL_FD = 3
MAX_STAGE_BYTES = 384 * 2**20  # everything one stage sends
# a stage its deadline stopped after waiting for a CPU this share of its time: the machine's load, not the student
STARVED_SHARE = 0.5
BLOCK_BUFFER = 1 << 16  # the child's stdout/stderr: a flood of short prints costs few system calls
_CHUNK = 1 << 20
_TICK_S = 0.05
_SWEEP_S = 5.0
_DRAIN_S = 1.0
_OUT_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def _limit_memory(limit: int) -> None:
    """Lower RLIMIT_DATA to the stage's budget, never above the sandbox's own hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


class StageDirs:
    """A stage's own folders in the scratch space, all made fresh and removed after it."""

    def __init__(self, plan: Plan, index: int):
        self.base = Path(plan.scratch) / f"stage-{index}"
        self.rel = self.base.name
        self.work, self.inputs, self.out = self.base / "work", self.base / "in", self.base / "out"
        self.home, self.tmp = self.base / "home", self.base / "tmp"

    def make(self, submission: str) -> None:
        self.base.mkdir()
        for path in (self.inputs, self.out, self.home, self.tmp):
            path.mkdir()
        box = os.path.dirname(os.path.realpath(self.base.parent))

        def the_box(folder: str, names: list[str]) -> list[str]:
            """A trusted run may keep its box inside the submission folder: never copy it into itself."""
            return [n for n in names if os.path.realpath(os.path.join(folder, n)) == box]

        shutil.copytree(submission, self.work, symlinks=True, copy_function=shutil.copyfile, ignore=the_box)


def _child(stage: StagePlan, plan: Plan, dirs: StageDirs, log_w: int, close: list[int]) -> None:
    """Runs in the forked child: never returns."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        for fd in {null, log_w, *close} - {0, 1, 2}:  # the supervisor's pipes, channel and folder
            with contextlib.suppress(OSError):
                os.close(fd)
        sys.stdin = None
        sys.stdout = open(1, "w", buffering=BLOCK_BUFFER, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", buffering=BLOCK_BUFFER, encoding="utf-8", errors="replace", closefd=False)
        _prctl(PR_SET_DUMPABLE, 1)  # the stage's own processes may debug each other; the supervisor stays closed
        if not stage.uses_gpu:  # the CUDA driver maps far more than it uses
            _limit_memory(stage.memory_mb * 1024 * 1024)
        os.environ.update(HOME=str(dirs.home), TMPDIR=plan.tmp[0] if plan.tmp else str(dirs.tmp))
        os.chdir(dirs.work)
        if not stage.numpy_only:
            import torch

            torch.set_num_threads(plan.threads)
        from .io import StageIO

        io = StageIO(dirs.inputs, dirs.out, dirs.work)
        handler = importlib.import_module(f"{__package__}.stages.{stage.handler}")
        handler.run(io, dirs.work)
        code = 0
    except MemoryError:
        code = MEMORY_EXIT
    except BaseException:  # noqa: BLE001 - the log keeps the traceback for the report
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class _Log:
    """The first MAX_LOG_BYTES of the stage's output; the rest is read and only counted."""

    def __init__(self, fd: int):
        self.fd, self.data, self.dropped = fd, bytearray(), 0

    def read(self) -> bool:
        """Read what is there; False at end of file."""
        try:
            chunk = os.read(self.fd, _CHUNK)
        except BlockingIOError:
            return True
        room = max(MAX_LOG_BYTES - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)
        return bool(chunk)

    def drain(self, seconds: float) -> None:
        """Read to end of file; give up after `seconds` if something still holds the pipe open."""
        give_up = time.monotonic() + seconds
        while (left := give_up - time.monotonic()) > 0:
            if select.select([self.fd], [], [], left)[0] and not self.read():
                return


def _ended(status: int) -> tuple[str, int | None]:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return ("memory" if sig == signal.SIGKILL else "crashed"), -sig
    code = os.WEXITSTATUS(status)
    return ("ok" if code == 0 else "memory" if code == MEMORY_EXIT else "crashed"), code


def _waited_s(pids: list[int]) -> float:
    """Seconds the processes' threads were ready to run but waited for a CPU (/proc/PID/task/TID/schedstat)."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fh:
                    total += int(fh.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def _wait(pid: int, log: _Log, deadline: float, plan: Plan) -> tuple[str, int | None, float, float]:
    """Drain the log until the child ends or the deadline passes: its state, exit code, CPU seconds and, when
    the deadline stopped it, how long the stage's processes waited for a CPU (else 0)."""
    open_log = True
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return (*_ended(status), usage.ru_utime + usage.ru_stime, 0.0)
        left = deadline - time.monotonic()
        if left <= 0:
            waited = _waited_s(sorted({pid, *_strays(plan)}))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            return "timeout", None, usage.ru_utime + usage.ru_stime, waited
        if open_log and select.select([log.fd], [], [], min(left, _TICK_S))[0]:
            open_log = log.read()
        elif not open_log:
            time.sleep(min(left, _TICK_S))


def _processes() -> dict[int, tuple[int, bytes]]:
    """Every process in sight: its parent and its state letter."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                found[int(entry)] = (int(fields[1]), fields[0])
            except (OSError, IndexError, ValueError):
                continue
    return found


def _strays(plan: Plan) -> list[int]:
    """The live processes a stage may have left: in our own PID namespace every one but init and us; else our
    descendants (as the children's subreaper, nothing a stage starts can leave our subtree)."""
    me, procs = os.getpid(), _processes()
    if plan.pid_namespace:
        return [pid for pid, (_, state) in procs.items() if pid not in (1, me) and state != b"Z"]
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in procs.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(me, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return [pid for pid in found if procs[pid][1] != b"Z"]


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            continue  # one more child reaped; look for the next


def _kill_all(plan: Plan, pgid: int) -> bool:
    """Kill every process the stage started, again and again until none is left; False if some survive."""
    give_up = time.monotonic() + _SWEEP_S
    while time.monotonic() < give_up:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if plan.pid_namespace:  # everything but init and us belongs to the stage
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)
        left = _strays(plan)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()
        if not left:
            return True
        time.sleep(0.002)
    return False


def _read_regular(dir_fd: int, name: str, cap: int) -> bytes | None:
    """One regular file of the folder, read without following links or blocking; None if it is anything else."""
    try:
        fd = os.open(name, _OUT_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > cap:
            return None
        data = bytearray()
        while len(data) <= info.st_size and (chunk := os.read(fd, info.st_size + 1 - len(data))):
            data += chunk
        return bytes(data) if len(data) <= cap else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _outputs(scratch_fd: int, dirs: StageDirs) -> list[tuple[str, bytes]]:
    """The regular files of the stage's output folder, opened relative to the scratch folder's descriptor."""
    try:
        stage_fd = os.open(dirs.rel, _DIR_FLAGS, dir_fd=scratch_fd)
    except OSError:
        return []
    try:
        out_fd = os.open("out", _DIR_FLAGS, dir_fd=stage_fd)
    except OSError:
        return []
    finally:
        os.close(stage_fd)
    found, total = [], 0
    try:
        for name in sorted(n for n in os.listdir(out_fd) if safe_name(n))[:MAX_FILES]:
            data = _read_regular(out_fd, name, min(MAX_FILE_BYTES, MAX_STAGE_BYTES - total))
            if data is not None:
                found.append((name, data))
                total += len(data)
    finally:
        os.close(out_fd)
    return found


def _force_remove(func, path, _exc) -> None:
    """rmtree's error hook: a stage may have taken write permission off its own folders."""
    with contextlib.suppress(OSError):
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)


def _wipe(plan: Plan) -> None:
    """Empty the scratch folder (every stage's folders and whatever else a stage left there) and the sandbox's
    /tmp and /dev/shm, so nothing reaches the next stage."""
    for folder in (plan.scratch, *plan.tmp):
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, onerror=_force_remove)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _materialise(folder: Path, header: dict, body: bytearray) -> None:
    """Write the stage's input files, then zero the buffer: the child keeps no copy in its memory."""
    try:
        for name, data in split_files(header, body).items():
            (folder / name).write_bytes(data)
    finally:
        body[:] = bytes(len(body))


def run_stage(index: int, stage: StagePlan, plan: Plan, feed, channel, scratch_fd: int) -> bool:
    """Run one stage and send what it left; False when the supervisor must stop (a stray survived)."""
    header, body = read_frame(feed, MAX_INPUT_BYTES)
    if header.get("kind") != "stage" or header.get("name") != stage.name:
        raise ProtocolError(f"expected the inputs of stage {stage.name}, got {header.get('kind')}")
    dirs = StageDirs(plan, index)
    dirs.make(plan.submission)
    _materialise(dirs.inputs, header, body)
    del body
    log_r, log_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(stage, plan, dirs, log_w, [log_r, channel.fileno(), scratch_fd, feed.fileno()])
    os.close(log_w)
    log = _Log(log_r)
    os.set_blocking(log_r, False)
    state, code, cpu_s, waited_s = _wait(pid, log, start + stage.timeout_s, plan)
    wall_s = time.monotonic() - start
    clean = _kill_all(plan, pid)
    log.drain(_DRAIN_S if clean else 0)
    os.close(log_r)
    if clean:
        for name, data in _outputs(scratch_fd, dirs):
            write_frame(channel, {"kind": "file", "stage": stage.name, "name": name}, data)
        write_frame(channel, {"kind": "log", "stage": stage.name, "dropped": log.dropped}, bytes(log.data))
        write_frame(channel, {"kind": "status", "stage": stage.name, "state": state, "exit": code,
                              "wall_s": round(wall_s, 3), "cpu_s": round(cpu_s, 3), "wait_s": round(waited_s, 3),
                              "starved": state == "timeout" and waited_s > STARVED_SHARE * wall_s})
        _wipe(plan)
    return clean


def main(argv: list[str]) -> int:
    """`grader_runner [FEED CHANNEL]`: stdin and fd 3 by default, or the two files named (trusted runs)."""
    _prctl(PR_SET_DUMPABLE, 0)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # a daemon a stage starts is re-parented to us, not to the host's init
    feed = open(argv[1] if len(argv) > 2 else 0, "rb", buffering=0)  # unbuffered: never read ahead
    channel = open(argv[2] if len(argv) > 2 else CHANNEL_FD, "wb", buffering=0)
    header, _ = read_frame(feed, 0)
    if header.get("kind") != "plan":
        raise ProtocolError(f"expected the plan, got {header.get('kind')}")
    plan = Plan.from_header(header)
    scratch_fd = os.open(plan.scratch, _DIR_FLAGS)
    import numpy  # noqa: F401 - imported once here, shared by every forked stage

    for index, stage in enumerate(plan.stages):
        if not stage.numpy_only:
            import torch  # noqa: F401 - only after the numpy-only stages, which come first

        if not run_stage(index, stage, plan, feed, channel, scratch_fd):
            return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    # Every stage's outputs and status are sent by now; a normal interpreter exit with torch loaded would
    # take a second or more of every submission's time (benchmarks/grading_speed.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
