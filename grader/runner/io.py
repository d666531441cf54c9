"""The stage's side of the parent/child protocol: read inputs, write raw outputs case by case."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def to_array(value: Any) -> np.ndarray:
    """A student's return value (tensor, array, number) as a numeric numpy array, or TypeError."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
        if hasattr(value, "numpy"):
            value = value.numpy()
    if value is None:
        raise TypeError("returned None (did you forget `return`?)")
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"returned {type(value).__name__} of dtype {arr.dtype}, not numbers")
    return arr


def describe_exception(exc: BaseException, student_root: str) -> dict[str, Any]:
    """The error as a person reads it: type, message, and the student's line that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = None
    for frame in reversed(frames):
        if frame.filename.startswith(student_root) or frame.filename.startswith("<notebook"):
            rel = frame.filename[len(student_root):].lstrip("/") if frame.filename.startswith(student_root) \
                else frame.filename
            where = {"file": rel, "line": frame.lineno, "code": (frame.line or "")[:200]}
            break
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-12:])
    return {"type": type(exc).__name__, "message": str(exc)[:1000], "where": where, "traceback": tb[-4000:]}


class StageIO:
    """Inputs under `in_dir` (task.json and .npy files), outputs under `out_dir`."""

    def __init__(self, in_dir: Path, out_dir: Path, student_root: Path):
        self.in_dir = Path(in_dir)
        self.out_dir = Path(out_dir)
        self.student_root = str(student_root)
        task_file = self.in_dir / "task.json"
        self.task: dict[str, Any] = json.loads(task_file.read_text()) if task_file.exists() else {}

    def input(self, name: str) -> np.ndarray:
        return np.load(self.in_dir / f"{name}.npy", allow_pickle=False)

    def save(self, name: str, value: Any) -> np.ndarray:
        arr = to_array(value)
        np.save(self.out_dir / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        return arr

    def record(self, case: str, **info: Any) -> None:
        """Append one case's record at once, so a later crash or timeout keeps the cases before it."""
        line = json.dumps({"case": case, **info}, default=str)
        with open(self.out_dir / "records.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def run_case(self, case: str, fn: Callable[[], dict[str, Any] | None]) -> bool:
        """Run one case; record `ok` with what `fn` returns, or the student's error."""
        start = time.perf_counter()
        try:
            info = fn() or {}
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from student code are errors too
            self.record(case, ok=False, error=describe_exception(exc, self.student_root),
                        seconds=time.perf_counter() - start)
            return False
        self.record(case, ok=True, seconds=time.perf_counter() - start, **info)
        return True
