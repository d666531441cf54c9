"""Run a process tree: capture its output up to a cap, hold a wall-clock deadline, then kill all of it.

The child is started with fork+exec (`subprocess`), which is safe even after this process has run
parallel torch code; only the small `prepare` hook runs between the two. Output is read as it comes and
everything past the cap is read and dropped, so the child never blocks on a full pipe and the grader
never holds more than the cap. When the main process ends or the deadline passes, every process of the
run is killed: its process group, then whatever `kill_more` reaches (the cgroup), then any process whose
environment still carries the run's token (a daemon that left the process group and no cgroup held).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

TOKEN_VAR = "UNET_GRADER_RUN"
_CHUNK = 1024 * 1024
_TICK_S = 0.05
_DRAIN_S = 1.0


@dataclass
class Finished:
    """How the main process ended; `returncode` is None when the deadline killed it."""

    returncode: int | None
    timed_out: bool
    output: bytes
    truncated: bool
    wall_s: float


class _Capture:
    """The first `limit` bytes of a stream; the rest is only counted."""

    def __init__(self, limit: int):
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = max(self.limit - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)


def _exited(pid: int) -> bool:
    """Whether `pid` has ended, WITHOUT reaping it: its process group id stays reserved until we do."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _pidfd(pid: int) -> int:
    """A descriptor that becomes readable when `pid` ends (Linux 5.3+), or -1 where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


def _pump(pid: int, fd: int, capture: _Capture, deadline: float) -> bool:
    """Read output until the process ends (False) or the deadline passes (True)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    pidfd = _pidfd(pid)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    try:
        while not _exited(pid):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            for ready, _ in poller.poll(min(remaining, _TICK_S) * 1000):
                if ready == fd:
                    chunk = os.read(fd, _CHUNK)
                    if chunk:
                        capture.feed(chunk)
                    else:
                        poller.unregister(fd)
        return False
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def _drain(fd: int, capture: _Capture) -> None:
    """Read what is left in the pipe; give up after a moment if something still holds it open."""
    give_up = time.monotonic() + _DRAIN_S
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while (remaining := give_up - time.monotonic()) > 0:
        if not poller.poll(remaining * 1000):
            return
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return
        capture.feed(chunk)


def _environ(pid: str) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def kill_by_token(token: str, rounds: int = 50) -> None:
    """SIGKILL every process whose environment holds this run's token, until none is left."""
    marker = f"{TOKEN_VAR}={token}".encode()
    me = str(os.getpid())
    for _ in range(rounds):
        found = [int(e) for e in os.listdir("/proc") if e.isdigit() and e != me and marker in _environ(e)]
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_tree(argv: Sequence[str], *, env: Mapping[str, str], cwd: str, timeout_s: float,
             max_output_bytes: int, token: str, prepare: Callable[[], None],
             kill_more: Callable[[], None] | None = None) -> Finished:
    """Run `argv` in its own session with stdout and stderr merged; kill the whole tree at the end."""
    capture = _Capture(max_output_bytes)
    start = time.monotonic()
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=dict(env), cwd=cwd, start_new_session=True,
                            preexec_fn=prepare, close_fds=True)
    fd = proc.stdout.fileno()
    try:
        os.set_blocking(fd, False)
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _CHUNK)
        except OSError:
            pass  # a bigger pipe only saves system calls on a flood of output
        timed_out = _pump(proc.pid, fd, capture, start + timeout_s)
        wall_s = time.monotonic() - start
    finally:
        _kill_group(proc.pid)
        if kill_more:
            kill_more()
        kill_by_token(token)
        _drain(fd, capture)
        proc.stdout.close()
        proc.wait()
    return Finished(None if timed_out else proc.returncode, timed_out, bytes(capture.data),
                    capture.dropped > 0, round(wall_s, 3))
