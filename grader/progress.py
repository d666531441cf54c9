"""A batch's progress on stderr: on a terminal, a line per finished submission above a live bar (current
submissions, finished / total, time left); elsewhere (a log file, CI) one plain line per submission."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from .console import clip, duration
from .results import SubmissionResult

REFRESH_S = 1.0
BAR = 20


def verdict(result: SubmissionResult) -> str:
    """`71.5/100, 2 checks failed` or `rejected: why`."""
    if result.status == "rejected":
        return f"rejected: {result.error}"
    failed = sum(c.status in ("failed", "error", "timeout") for c in result.checks)
    return f"{result.score:g}/{result.max_score:g}" + (f", {failed} checks failed" if failed else "")


class Progress:
    """Thread-safe: workers call `started` and `finished`; `close` ends the live line."""

    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = 0
        self.running: dict[str, float] = {}
        self.start = time.monotonic()
        self.last_event = self.start
        self.eta_at_event: float | None = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ticker: threading.Thread | None = None
        if self.tty and total:
            self.ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self.ticker.start()

    def _tick(self) -> None:
        while not self.stop.wait(REFRESH_S):
            with self.lock:
                self._draw()

    def eta(self) -> float | None:
        """Seconds left: the mean wall time per finished submission times those left, counted down
        since the last one finished; None before the first."""
        if self.eta_at_event is None:
            return None
        return max(self.eta_at_event - (time.monotonic() - self.last_event), 0.0)

    def _eta_text(self) -> str:
        eta = self.eta()
        return "ETA …" if eta is None else f"ETA {duration(eta)}"

    def _bar(self) -> str:
        filled = BAR * self.done // self.total if self.total else BAR
        now = ", ".join(self.running)
        line = f"[{'#' * filled}{'.' * (BAR - filled)}] {self.done}/{self.total}  {self._eta_text()}"
        if now:
            line += f"  grading: {now}"
        return clip(line, shutil.get_terminal_size((100, 24)).columns - 1)

    def _draw(self) -> None:
        if self.tty and not self.stop.is_set():
            self.stream.write("\r\033[K" + self._bar())
            self.stream.flush()

    def started(self, submission_id: str) -> None:
        with self.lock:
            self.running[submission_id] = time.monotonic()
            self._draw()

    def finished(self, result: SubmissionResult) -> None:
        with self.lock:
            self.running.pop(result.submission.id, None)
            self.done += 1
            now = time.monotonic()
            self.last_event = now
            self.eta_at_event = (now - self.start) / self.done * (self.total - self.done)
            seconds = result.timings.get("total", 0.0)
            line = f"[{self.done}/{self.total}] {result.submission.id}: {verdict(result)} ({seconds:.1f} s)"
            if self.tty:
                self.stream.write("\r\033[K" + line + "\n")
                self._draw()
            else:
                left = f" — {self._eta_text()} left" if self.done < self.total else ""
                self.stream.write(line + left + "\n")
            self.stream.flush()

    def close(self) -> None:
        with self.lock:
            if self.tty and self.total and not self.stop.is_set():
                self.stream.write("\r\033[K")
                self.stream.flush()
            self.stop.set()
        if self.ticker is not None:
            self.ticker.join()


class Ticker:
    """While one long step runs (a self-check's training): on a terminal, a live line with the time taken,
    redrawn every second; elsewhere a plain line every `every_s`, so a log shows it is still going."""

    def __init__(self, label: str, stream: TextIO | None = None, tty: bool | None = None, every_s: float = 30.0,
                 refresh_s: float = REFRESH_S):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.refresh_s = refresh_s
        self.start = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def _line(self) -> str:
        return f"{self.label} {duration(time.monotonic() - self.start)}"

    def _run(self) -> None:
        wait = self.refresh_s if self.tty else self.every_s
        while not self.stop.wait(wait):
            if self.tty:
                self.stream.write("\r\033[K" + clip(self._line(), shutil.get_terminal_size((80, 24)).columns - 1))
            else:
                self.stream.write(self._line() + "\n")
            self.stream.flush()

    def __enter__(self) -> Ticker:
        self.start = time.monotonic()
        self.stream.write(("\r\033[K" if self.tty else "") + self._line() + ("" if self.tty else "\n"))
        self.stream.flush()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
