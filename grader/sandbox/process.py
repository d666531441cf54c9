"""Run a process tree: feed its stdin, capture its output and its channel up to caps, hold a wall-clock deadline,
then kill all of it.

The child is started with fork+exec (`subprocess`), which is safe even after this process has run parallel
torch code; only the small `prepare` hook runs between the two. Output and the channel (the write end of a
pipe the child gets as fd 3) are read as they come, concurrently, and everything past a cap is read and
dropped, so the child never blocks on a full pipe and the grader never holds more than the caps. The stdin
writer runs in a thread of its own, so a child that does not read never blocks the grader either. When the
main process ends or the deadline passes, every process of the run is killed: its process group, then whatever
`kill_more` reaches (the cgroup), then any process whose environment still carries the run's token (a daemon
that left the process group and no cgroup held).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

TOKEN_VAR = "UNET_GRADER_RUN"
CHANNEL_FD = 3
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
    channel: bytes = b""
    channel_truncated: bool = False


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


def _read_into(fd: int, capture: _Capture) -> bool:
    """Read one chunk; False at end of file."""
    try:
        chunk = os.read(fd, _CHUNK)
    except BlockingIOError:
        return True
    capture.feed(chunk)
    return bool(chunk)


def _pump(pid: int, streams: dict[int, _Capture], deadline: float) -> bool:
    """Read every stream until the process ends (False) or the deadline passes (True)."""
    poller = select.poll()
    for fd in streams:
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
                if ready in streams and not _read_into(ready, streams[ready]):
                    poller.unregister(ready)
        return False
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def _drain(streams: dict[int, _Capture]) -> None:
    """Read what is left in the pipes; give up after a moment if something still holds one open."""
    give_up = time.monotonic() + _DRAIN_S
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    left = len(streams)
    while left and (remaining := give_up - time.monotonic()) > 0:
        for ready, _ in poller.poll(remaining * 1000):
            if not _read_into(ready, streams[ready]):
                poller.unregister(ready)
                left -= 1


def _feed(write: Callable[[BinaryIO], None], pipe: BinaryIO) -> None:
    """The stdin writer's thread: a child that exits or stops reading only ends the feeding."""
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ValueError, OSError):
            write(pipe)
    finally:
        with contextlib.suppress(OSError, ValueError):
            pipe.close()


def _channel_setup(write_end: int, keep: Sequence[int], prepare: Callable[[], None]) -> Callable[[], None]:
    """In the child: the channel as fd 3, `keep` inherited as they are, every other descriptor above 3 closed
    at exec (subprocess's own close_fds would close fd 3 too)."""

    def setup() -> None:
        if write_end == CHANNEL_FD:
            os.set_inheritable(CHANNEL_FD, True)
        else:
            os.dup2(write_end, CHANNEL_FD)
        for name in os.listdir("/proc/self/fd"):
            if int(name) > CHANNEL_FD:
                with contextlib.suppress(OSError):
                    os.set_inheritable(int(name), int(name) in keep)
        prepare()

    return setup


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
             kill_more: Callable[[], None] | None = None, stdin: Callable[[BinaryIO], None] | None = None,
             channel: bool = False, max_channel_bytes: int = 0, pass_fds: Sequence[int] = ()) -> Finished:
    """Run `argv` in its own session with stdout and stderr merged; kill the whole tree at the end.

    `stdin`, when given, is run in a thread with the child's stdin; with `channel`, the child gets the write
    end of a pipe as fd 3, and what arrives there (up to `max_channel_bytes`) is returned. `pass_fds` (above
    3) stay open in the child, e.g. a seccomp program for bwrap.
    """
    capture, received = _Capture(max_output_bytes), _Capture(max_channel_bytes)
    read_end, write_end = os.pipe() if channel else (-1, -1)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env), cwd=cwd,
                                start_new_session=True,
                                preexec_fn=_channel_setup(write_end, pass_fds, prepare) if channel else prepare,
                                close_fds=not channel, pass_fds=() if channel else tuple(pass_fds))
    except BaseException:
        for end in (read_end, write_end):
            if end >= 0:
                os.close(end)
        raise
    if channel:
        os.close(write_end)
    feeder = threading.Thread(target=_feed, args=(stdin, proc.stdin), daemon=True) if stdin else None
    if feeder:
        feeder.start()
    fd = proc.stdout.fileno()
    streams = {fd: capture, **({read_end: received} if channel else {})}
    try:
        for end in streams:
            os.set_blocking(end, False)
            try:
                fcntl.fcntl(end, fcntl.F_SETPIPE_SZ, _CHUNK)
            except OSError:
                pass  # a bigger pipe only saves system calls on a flood of output
        timed_out = _pump(proc.pid, streams, start + timeout_s)
        wall_s = time.monotonic() - start
    finally:
        _kill_group(proc.pid)
        if kill_more:
            kill_more()
        kill_by_token(token)
        _drain(streams)
        proc.stdout.close()
        if channel:
            os.close(read_end)
        proc.wait()
        if feeder:
            feeder.join(_DRAIN_S)
    return Finished(None if timed_out else proc.returncode, timed_out, bytes(capture.data),
                    capture.dropped > 0, round(wall_s, 3), bytes(received.data), received.dropped > 0)
