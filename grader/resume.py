"""Resuming a batch: which results in the output folder can be kept, and the folder's own settings.

A result is kept when its resume key matches: the archive's sha256, the grader's version, the profile and
device, the seed, the selected checks, the rubric's points and, when training is graded, the calibrated
pass marks (`unet-grader calibrate` rewrites them). The key's parts are stored in result.json's
`extra.resume`, so a TA can see why a submission was or was not regraded. A grader changed without a new
version number is not noticed: regrade with `--force` then.

The seed belongs to the output folder, written to `DIR/run.json` when a batch starts: a later run without
`--seed` reuses it, so that every student of a class is graded on the same hidden cases and a resumed
batch keeps its results. `--seed N` changes it (and so regrades everything); `--force` regrades
everything with the folder's seed.

`--only` regrades exactly the submissions it selects, by their last result (`select`), and keeps every
other result as it is, whatever its key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__
from .checks.base import matches
from .results import SubmissionResult
from .roster import derived_id
from .settings import RunSettings
from .training.thresholds import THRESHOLDS_FILE

RUN_FILE = "run.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _pass_marks(checks: list[str] | None) -> str | None:
    """The calibration the training check judges by, when it is selected and calibrated."""
    if not matches("training/unet", checks) or not THRESHOLDS_FILE.is_file():
        return None
    return _digest(THRESHOLDS_FILE.read_bytes())


def key_parts(sha256: str, settings: RunSettings) -> dict[str, Any]:
    """What a result depends on, besides the grader's randomness (which the seed fixes)."""
    return {"sha256": sha256, "grader": __version__, "profile": settings.profile, "device": settings.device,
            "seed": settings.seed, "checks": sorted(settings.checks) if settings.checks else None,
            "rubric": _digest(json.dumps(settings.rubric.table, sort_keys=True).encode()),
            "pass_marks": _pass_marks(settings.checks)}


def resume_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def stamp(result: SubmissionResult, parts: dict[str, Any]) -> None:
    """Record the key in the result, so a later run can keep it."""
    result.extra["resume"] = {"key": resume_key(parts), **parts}


def last(out_dir: Path, submission_id: str) -> SubmissionResult | None:
    """The result already in `out_dir` for this submission, if there is a readable one."""
    try:
        return SubmissionResult.read(out_dir / submission_id / "result.json")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def previous(out_dir: Path, submission_id: str, parts: dict[str, Any]) -> SubmissionResult | None:
    """The result already in `out_dir` for this submission, if it was graded with the same key."""
    result = last(out_dir, submission_id)
    if result is None:
        return None
    stored = result.extra.get("resume") if isinstance(result.extra, dict) else None
    if isinstance(stored, dict) and stored.get("key") == resume_key(parts):
        return result
    return None


# `--only` keywords: what in a submission's last result makes it selected. Hand-graded answers never count.
ONLY_KINDS = {
    "failed": lambda r: any(c.status == "failed" and c.group != "answers" for c in r.checks),
    "timeout": lambda r: any(c.status == "timeout" for c in r.checks),
    "error": lambda r: any(c.status == "error" for c in r.checks),  # a grader crash is an error check
    "rejected": lambda r: r.status == "rejected",
}


class SelectionError(ValueError):
    """An `--only` that names a submission the batch does not have."""


def select(only: list[str], sources: dict[str, str], out_dir: Path) -> tuple[set[str], list[str]]:
    """(the submissions `--only` selects, those it cannot judge because they have no result yet).

    `sources` maps each submission id to the file or folder name handed in. Each item of `only` is a
    keyword of ONLY_KINDS, a submission id (exact, else ignoring case), or a student id as the gradebook
    derives it from the name (`2024001` for `2024001_张三.tar.gz`: every submission of that student).
    """
    by_fold = {i.casefold(): i for i in sources}
    by_student: dict[str, list[str]] = {}
    for sid, name in sources.items():
        by_student.setdefault(derived_id(name, sid), []).append(sid)
    chosen: set[str] = set()
    kinds = []
    for item in only:
        if item in ONLY_KINDS:
            kinds.append(ONLY_KINDS[item])
        elif item.casefold() in by_fold:
            chosen.add(item if item in sources else by_fold[item.casefold()])
        elif item in by_student:
            chosen.update(by_student[item])
        else:
            close = difflib.get_close_matches(item, list(sources), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SelectionError(f"--only: no submission {item!r} in this batch (give {', '.join(ONLY_KINDS)}, "
                                 f"a submission id (a folder name in {out_dir}) or a student id){hint}")
    unknown = []
    if kinds:
        for sid in sources:
            result = last(out_dir, sid)
            if result is None:
                unknown.append(sid)
            elif any(kind(result) for kind in kinds):
                chosen.add(sid)
    return chosen, [sid for sid in unknown if sid not in chosen]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """`DIR/run.json`: the folder's seed and how the last batch went."""

    seed: int
    profile: str
    checks: list[str] | None
    grader: str
    started: str
    finished: str | None = None
    submissions: int = 0
    graded_now: int = 0
    kept: int = 0

    @classmethod
    def read(cls, out_dir: Path) -> RunRecord | None:
        try:
            data = json.loads((out_dir / RUN_FILE).read_text(encoding="utf-8"))
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (OSError, ValueError, TypeError):
            return None

    def write(self, out_dir: Path) -> None:
        tmp = out_dir / f"{RUN_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(out_dir / RUN_FILE)

    @classmethod
    def start(cls, settings: RunSettings, submissions: int) -> RunRecord:
        return cls(seed=settings.seed, profile=settings.profile, checks=settings.checks,
                   grader=__version__, started=_now(), submissions=submissions)

    def finish(self, out_dir: Path, graded_now: int, kept: int) -> None:
        self.finished, self.graded_now, self.kept = _now(), graded_now, kept
        self.write(out_dir)


def choose_seed(given: int | None, out_dir: Path) -> tuple[int, str]:
    """The seed for this run and where it came from (said in the batch's first line)."""
    if given is not None:
        return given, "--seed"
    record = RunRecord.read(out_dir)
    if record is not None and isinstance(record.seed, int):
        return record.seed, f"kept from {out_dir / RUN_FILE}"
    return secrets.randbelow(2**31), "drawn for this folder"
