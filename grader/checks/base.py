"""The interface every check group implements.

A group runs in two halves. In the parent, `prepare` writes the inputs for one or more sandbox stages
(`.npy` arrays and a JSON task) and `judge` turns the stages' validated raw outputs into `CheckResult`s
against references the parent computes itself. In the sandbox, the stage handler named by
`StageRequest.handler` (a module under `grader/runner/stages/`) loads the student's code and writes raw
outputs. Nothing the child says is evidence of passing except data that `judge` validates.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..messages import Text
from ..results import CheckResult

# The seed of the cases a student's self-check shows: published, never the seed of a grading run.
PUBLIC_SEED = 20190413


@dataclass
class StageRequest:
    """One forked child inside the submission's sandbox."""

    name: str
    handler: str
    task: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 60.0
    memory_mb: int = 4096
    uses_gpu: bool = False


@dataclass
class CheckContext:
    """What a group may know in the parent: the run's settings, the rubric, the submission's files."""

    submission_dir: Path
    notebook: Path | None
    seed: int
    profile: Any
    rubric: Any
    io_root: Path
    artifacts_dir: Path
    public_only: bool = False
    pristine_notebook: Path | None = None  # the grader's own copy from intake, out of the sandbox's reach

    def stage_inputs(self, stage: str) -> Path:
        """The folder whose contents the stage will see as its read-only inputs."""
        path = self.io_root / "in" / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_input(self, stage: str, name: str, array: np.ndarray) -> None:
        np.save(self.stage_inputs(stage) / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)

    def points(self, check_id: str) -> float:
        return self.rubric.points(check_id)

    def rng(self, salt: str) -> np.random.Generator:
        """A generator for hidden cases: differs between seeds and between groups, fixed for a seed.

        A student's self-check (`public_only`) always draws the published cases of PUBLIC_SEED.
        """
        return np.random.default_rng([PUBLIC_SEED if self.public_only else self.seed, *salt.encode()])


class CheckGroup(ABC):
    """A check group: one module per group under grader/checks/, registered by its group id."""

    group: str

    @abstractmethod
    def check_ids(self, ctx: CheckContext) -> list[str]:
        """Every check id this group reports (also used for --checks selection and the rubric)."""

    @abstractmethod
    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        """Write the stage inputs; return the stages to run in the sandbox (may be empty)."""

    @abstractmethod
    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        """Compare the validated raw outputs with the parent's own references."""

    def not_run(self, ctx: CheckContext, reason: Text) -> list[CheckResult]:
        """Every check of the group as skipped, e.g. when the file it needs is missing."""
        return [CheckResult.make(cid, "skipped", ctx.points(cid), reason) for cid in self.check_ids(ctx)]

    def missing(self, ctx: CheckContext, reason: Text, **details: Any) -> list[CheckResult]:
        """Every check of the group failed with 0 points: the work it grades was not handed in."""
        return [CheckResult.make(cid, "failed", ctx.points(cid), reason, **details) for cid in self.check_ids(ctx)]


class OutputError(Exception):
    """Raw output from the child that is missing or not what the parent asked for."""


class StageOutputs:
    """Read-only, validating view of one stage's output folder, filled by an untrusted child."""

    MAX_JSON_BYTES = 2_000_000
    MAX_ARRAY_BYTES = 256 * 1024 * 1024

    def __init__(self, name: str, folder: Path):
        self.name = name
        self.folder = folder
        self.status = self._read_status()

    def _read_status(self) -> dict[str, Any]:
        """How the stage ended, as the in-sandbox supervisor saw it: only used to explain a failure."""
        data = self._json_file(self.folder / "_status.json")
        if not isinstance(data, dict):
            return {"state": "not_run"}
        return data

    @property
    def state(self) -> str:
        """`ok`, `timeout`, `crashed`, `memory` or `not_run`."""
        state = self.status.get("state")
        return state if state in ("ok", "timeout", "crashed", "memory") else "not_run"

    def _json_file(self, path: Path) -> Any:
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > self.MAX_JSON_BYTES:
                return None
            return json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            return None

    def records(self) -> dict[str, dict[str, Any]]:
        """Per-case records written by `StageIO.run_case`, keyed by case name (later lines win)."""
        path = self.folder / "records.jsonl"
        found: dict[str, dict[str, Any]] = {}
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > self.MAX_JSON_BYTES:
                return found
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return found
        for line in lines:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("case"), str):
                found[item["case"]] = item
        return found

    def array(self, name: str, *, shape: tuple[int, ...] | None = None, max_elements: int = 10_000_000
              ) -> np.ndarray:
        """Load `name.npy` without pickle, as a finite-or-not float64/bool/int array, checking its size."""
        path = self.folder / f"{name}.npy"
        if not path.is_file() or path.is_symlink():
            raise OutputError(f"no output {name!r}")
        if path.stat().st_size > self.MAX_ARRAY_BYTES:
            raise OutputError(f"output {name!r} is too large")
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode=None)
        except (ValueError, OSError, EOFError) as exc:
            raise OutputError(f"output {name!r} is unreadable: {exc}") from exc
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
            raise OutputError(f"output {name!r} is not a numeric array")
        if arr.size > max_elements:
            raise OutputError(f"output {name!r} has {arr.size} elements, more than {max_elements}")
        if shape is not None and tuple(arr.shape) != tuple(shape):
            raise OutputError(f"output {name!r} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
        return arr

    def file_bytes(self, name: str, max_bytes: int) -> bytes | None:
        """One regular file the stage wrote (no link, no FIFO, at most max_bytes), or None."""
        path = self.folder / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                return None
            data = fh.read(max_bytes + 1)
        return data if len(data) <= max_bytes else None

    def log(self, limit: int = 20_000) -> str:
        """The stage's captured stdout/stderr, capped."""
        path = self.folder / "output.log"
        try:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except OSError:
            return ""
        text = data[:limit].decode("utf-8", errors="replace")
        return text + ("\n[... output truncated ...]" if len(data) > limit else "")


def matches(check_id: str, globs: list[str] | None) -> bool:
    """Whether `--checks` selects this id; a glob also selects the sub-ids of a group it names."""
    if not globs:
        return True
    return any(fnmatch.fnmatchcase(check_id, g) or fnmatch.fnmatchcase(check_id.split("/")[0], g)
               for g in globs)
