"""The interface every check group implements.

A group runs in two halves. In the parent, `prepare` writes the inputs for one or more sandbox stages
(`.npy` arrays and other files in the parent's own folder, and a JSON task) and `judge` turns the stages'
validated raw outputs into `CheckResult`s against references the parent computes itself. In the sandbox, the
stage handler named by `StageRequest.handler` (a module under `grader/runner/stages/`) loads the student's
code and writes raw outputs. Nothing the child says is evidence of passing except data that `judge`
validates.
"""

from __future__ import annotations

import fnmatch
import io
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import protocol
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
        """The parent's own folder of the stage's input files (outside the box): they reach the stage over
        its supervisor's stdin when it starts, and judging reads them here, never back from the box."""
        path = self.io_root / stage
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
    """Read-only, validating view of what one stage sent back over the channel, held in memory.

    The supervisor read the stage's output folder itself (no link, no FIFO, nothing over its cap); the parent
    reads no file of the box. A stage whose status frame never arrived counts as `not_run` (nothing arrived)
    or `crashed` (it was cut short), and its files are dropped.
    """

    MAX_JSON_BYTES = 2_000_000
    MAX_ARRAY_BYTES = 256 * 1024 * 1024

    def __init__(self, name: str, files: dict[str, bytes] | None = None, status: dict[str, Any] | None = None,
                 log: bytes = b"", log_dropped: int = 0):
        self.name = name
        self.files = dict(files or {})
        self.status = dict(status or {"state": "not_run"})
        self._log, self._log_dropped = log, log_dropped

    @property
    def state(self) -> str:
        """`ok`, `timeout`, `crashed`, `memory` or `not_run`."""
        state = self.status.get("state")
        return state if state in protocol.STATES else "not_run"

    def file_bytes(self, name: str, max_bytes: int) -> bytes | None:
        """One regular file the stage wrote (no link, no FIFO, at most max_bytes), or None."""
        data = self.files.get(name)
        return data if data is not None and len(data) <= max_bytes else None

    def records(self) -> dict[str, dict[str, Any]]:
        """Per-case records written by `StageIO.run_case`, keyed by case name (later lines win)."""
        data = self.file_bytes("records.jsonl", self.MAX_JSON_BYTES)
        found: dict[str, dict[str, Any]] = {}
        for line in (data or b"").decode("utf-8", errors="replace").splitlines():
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
        if f"{name}.npy" not in self.files:
            raise OutputError(f"no output {name!r}")
        data = self.file_bytes(f"{name}.npy", self.MAX_ARRAY_BYTES)
        if data is None:
            raise OutputError(f"output {name!r} is too large")
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise OutputError(f"output {name!r} is unreadable: {exc}") from exc
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
            raise OutputError(f"output {name!r} is not a numeric array")
        if arr.size > max_elements:
            raise OutputError(f"output {name!r} has {arr.size} elements, more than {max_elements}")
        if shape is not None and tuple(arr.shape) != tuple(shape):
            raise OutputError(f"output {name!r} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
        return arr

    def log(self, limit: int = 20_000) -> str:
        """The stage's captured stdout/stderr, capped."""
        text = self._log[:limit].decode("utf-8", errors="replace")
        cut = len(self._log) > limit or self._log_dropped > 0
        return text + ("\n[... output truncated ...]" if cut else "")


def _status(header: dict[str, Any]) -> dict[str, Any]:
    """A status frame's fields, each checked: only used to explain a failure, never as evidence."""
    state = header.get("state") if header.get("state") in protocol.STATES else "crashed"
    code = header.get("exit")
    numbers = {k: float(v) for k in ("wall_s", "cpu_s", "wait_s") if isinstance(v := header.get(k), (int, float))
               and not isinstance(v, bool) and math.isfinite(v)}
    return {"state": state, "exit": code if type(code) is int else None, "starved": header.get("starved") is True,
            **numbers}


def read_channel(data: bytes, names: list[str]) -> dict[str, StageOutputs]:
    """What the supervisor sent for each of the stages `names`, frame by frame, every field validated."""
    files: dict[str, dict[str, bytes]] = {n: {} for n in names}
    logs: dict[str, tuple[bytes, int]] = {}
    status: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for header, body in protocol.frames(data, protocol.MAX_FILE_BYTES):
        stage = header.get("stage")
        if stage not in files or stage in status:
            continue
        seen.add(stage)
        kind = header["kind"]
        if kind == "file" and protocol.safe_name(header.get("name")) and len(files[stage]) < protocol.MAX_FILES:
            files[stage].setdefault(header["name"], bytes(body))
        elif kind == "log" and stage not in logs:
            dropped = header.get("dropped")
            logs[stage] = (bytes(body[:protocol.MAX_LOG_BYTES]), dropped if type(dropped) is int else 0)
        elif kind == "status":
            status[stage] = _status(header)
    found = {}
    for name in names:
        if name in status:
            found[name] = StageOutputs(name, files[name], status[name], *logs.get(name, (b"", 0)))
        else:  # cut short: whatever arrived of it is not trusted to be whole
            found[name] = StageOutputs(name, status={"state": "crashed" if name in seen else "not_run"})
    return found


def matches(check_id: str, globs: list[str] | None) -> bool:
    """Whether `--checks` selects this id; a glob also selects the sub-ids of a group it names."""
    if not globs:
        return True
    return any(fnmatch.fnmatchcase(check_id, g) or fnmatch.fnmatchcase(check_id.split("/")[0], g)
               for g in globs)
