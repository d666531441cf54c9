"""The TAs' grades, kept in `DIR/_manual.json` apart from the automatic results and merged when reports load.

`grade` (with `--force` or `--only` too) rewrites only `DIR/<id>/result.json`, so a regrade never loses a
hand grade: the reports merge the stored grades over the new automatic results. The file holds the grades
in force and, under `history`, every grade a later one replaced. Names beginning with `_` are the
grader's own: no submission id begins with one (see grader/intake/sources.py `safe_id`).

    {"schema_version": 1,
     "grades": [{"submission_id": "2024001_张三", "check_id": "answers/q1", "score": 4.5,
                 "comment": "通道数说对了", "grader": "alice", "at": "2026-12-02T18:00:00Z",
                 "source": "manual.csv row 2", "sha256": "<the archive graded>"}],
     "history": [{..., "replaced_at": "2026-12-03T09:00:00Z"}]}
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..messages import Text, text
from ..results import CheckResult, SubmissionResult
from .load import ReportError
from .model import MANUAL_GROUP, num

STORE_FILE = "_manual.json"
SCHEMA_VERSION = 1


@dataclass
class HandGrade:
    """One grade a TA gave: a written answer's score, or an automatic check's score changed with a reason."""

    submission_id: str
    check_id: str
    score: float
    comment: str
    grader: str
    at: str
    source: str = ""
    sha256: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.submission_id, self.check_id


def now() -> str:
    """The time of a grade, in UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def current_user() -> str:
    """Who grades when `--grader` is not given: the account running the command."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _grade(item: dict[str, Any]) -> HandGrade:
    known = {f.name for f in fields(HandGrade)}
    grade = HandGrade(**{k: v for k, v in item.items() if k in known})
    if not isinstance(grade.score, (int, float)) or isinstance(grade.score, bool):
        raise TypeError(f"score {grade.score!r} is not a number")
    return grade


def _read(out_dir: Path) -> dict[str, Any]:
    path = out_dir / STORE_FILE
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "grades": [], "history": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data["grades"]:
            _grade(item)
        return data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{path} holds the TAs' grades but cannot be read ({type(exc).__name__}: {exc}); "
                          "restore it from a backup or fix it by hand") from exc


def load(out_dir: Path) -> list[HandGrade]:
    """The grades in force."""
    return [_grade(g) for g in _read(out_dir)["grades"]]


def record(out_dir: Path, grades: list[HandGrade]) -> int:
    """Store `grades` in one atomic write; returns how many are new or changed.

    A grade equal to the one in force (same score and comment) changes nothing, so merging the same CSV
    twice keeps who gave it and when. A changed grade moves the one it replaces to the history.
    """
    data = _read(out_dir)
    in_force = {g.key: g for g in map(_grade, data["grades"])}
    history = list(data.get("history") or [])
    changed = 0
    for grade in grades:
        old = in_force.get(grade.key)
        if old is not None and (old.score, old.comment) == (grade.score, grade.comment):
            continue
        if old is not None:
            history.append({**asdict(old), "replaced_at": grade.at})
        in_force[grade.key] = grade
        changed += 1
    if changed:
        stored = {"schema_version": SCHEMA_VERSION, "grades": [asdict(g) for g in in_force.values()],
                  "history": history}
        path = out_dir / STORE_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(stored, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)
    return changed


def merged(check: CheckResult, grade: HandGrade, sha256: str | None) -> CheckResult:
    """The check as the TA graded it; `details["automatic"]` keeps the automatic result it replaces."""
    automatic = check.details.get("automatic") or {
        "status": check.status, "score": check.score, "message": check.message, "messages": check.messages}
    previous = automatic["score"]
    details = {**check.details, "automatic": automatic,
               "override": {"by": "manual", "score": grade.score, "previous_score": previous,
                            "reason": grade.comment, "grader": grade.grader, "at": grade.at,
                            "source": grade.source}}
    message: Text
    if check.group != MANUAL_GROUP:
        message = text(f"助教调整了得分（自动评分 {num(previous)} 分）：{grade.comment}",
                       f"Score set by a TA (automatic score {num(previous)}): {grade.comment}")
    elif grade.comment:
        message = text(f"助教评语：{grade.comment}", f"TA's comment: {grade.comment}")
    else:
        message = text("已由助教评分", "Graded by a TA")
    if grade.sha256 and sha256 and grade.sha256 != sha256:
        # The student handed in again after the TA graded: the grade stands, and the TA is told.
        details["override"]["earlier_archive"] = grade.sha256
        message = text(f"{message.zh}（评分针对的是此前提交的文件）",
                       f"{message.en} (graded on an earlier version of the archive)")
    status = "passed" if grade.score >= check.max_score else "failed"
    return CheckResult(id=check.id, status=status, score=grade.score, max_score=check.max_score,
                       message=message.both(), details=details, messages=message.as_dict())


def apply(results: list[SubmissionResult], grades: list[HandGrade]) -> list[HandGrade]:
    """Merge the grades into the results in memory; returns those no result has a check for (kept stored)."""
    by_key = {g.key: g for g in grades}
    used: set[tuple[str, str]] = set()
    for result in results:
        checks = result.checks
        for i, check in enumerate(checks):
            grade = by_key.get((result.submission.id, check.id))
            if grade is not None:
                checks[i] = merged(check, grade, result.submission.sha256)
                used.add(grade.key)
    return [g for g in grades if g.key not in used]


def adopt_legacy(out_dir: Path) -> int:
    """Copy into the store the grades an earlier version merged into result.json itself, before a regrade
    replaces those files; returns how many were new to the store."""
    found = []
    for path in sorted(out_dir.glob("*/result.json")):
        try:
            result = SubmissionResult.read(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for check in result.checks:
            old = check.details.get("override")
            if isinstance(old, dict) and old.get("by") == "manual" and isinstance(old.get("score"), (int, float)):
                found.append(HandGrade(result.submission.id, check.id, float(old["score"]),
                                       str(old.get("reason") or ""), str(old.get("grader") or "unknown"),
                                       str(old.get("at") or now()), f"{path.parent.name}/result.json",
                                       result.submission.sha256))
    stored = {g.key for g in load(out_dir)}
    return record(out_dir, [g for g in found if g.key not in stored])
