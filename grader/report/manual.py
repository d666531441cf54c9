"""Manual grades: a CSV for the TAs to fill in, and merging their scores into the grades store.

The grades go to `DIR/_manual.json` (see handgrades), never into result.json: a regrade keeps them, and
each keeps who gave it, when and why. Every merge is judged against the automatic result, so merging the
same CSV twice changes nothing and a later CSV can revise an earlier grade.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from . import csvsafe, handgrades
from .load import Entry, ReportError, load_batch
from .model import MANUAL_GROUP, num

TEMPLATE_COLUMNS = ("submission_id", "check_id", "max_score", "score", "comment", "answer")
REQUIRED_COLUMNS = ("submission_id", "check_id", "score")


class ManualError(ReportError):
    """The manual CSV has bad rows; nothing was merged."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: nothing was merged; fix these rows and run again:\n"
                         + "\n".join(f"  {p}" for p in problems))


@dataclass
class ManualGrade:
    row: int
    submission_id: str
    check_id: str
    score: float
    comment: str


def write_template(entries: list[Entry], path: Path) -> int:
    """One row per written answer to grade, with the answer alongside; returns the number of rows.

    Rows already graded by hand come prefilled with their score and comment, so the file can be revised.
    Never overwrites a file: it may hold a TA's work.
    """
    if path.exists():
        raise ReportError(f"{path} already exists; move it away or name another file")
    rows = []
    for e in entries:
        for c in e.result.checks:
            if c.group != MANUAL_GROUP:
                continue
            override = c.details.get("override")
            graded = isinstance(override, dict)
            rows.append([e.id, c.id, num(c.max_score), num(c.score) if graded else "",
                         str(override.get("reason") or "") if graded else "",
                         str(c.details.get("answer") or "")])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csvsafe.writer(f)
        writer.writerow(TEMPLATE_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Excel on a Chinese Windows saves as "CSV"."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def read_manual(path: Path, entries: list[Entry]) -> list[ManualGrade]:
    """Every graded row of the CSV, all validated; raises ManualError naming each bad row.

    Rows are numbered as a spreadsheet shows them (the header is row 1). A row with no score is not
    graded yet and is left out.
    """
    try:
        reader = csv.DictReader(io.StringIO(_decode(path.read_bytes()), newline=""))
        header = [h.strip() for h in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManualError(path, [f"cannot read the file: {exc}"]) from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManualError(path, [f"row 1: missing column(s) {', '.join(missing)}"])
    reader.fieldnames = header
    checks = {(e.id, c.id): c for e in entries for c in e.result.checks}
    known_ids = {e.id for e in entries}
    grades: list[ManualGrade] = []
    seen: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        values = {k: csvsafe.unescape((v or "").strip()) for k, v in row.items()
                  if isinstance(k, str) and isinstance(v, str)}
        sid, cid, raw = values.get("submission_id", ""), values.get("check_id", ""), values.get("score", "")
        if not raw:
            continue
        where = f"row {number} ({sid or '?'}, {cid or '?'})"
        if sid not in known_ids:
            problems.append(f"{where}: unknown submission id {sid!r}")
            continue
        check = checks.get((sid, cid))
        if check is None:
            problems.append(f"{where}: submission {sid!r} has no check {cid!r}")
            continue
        try:
            score = float(raw)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            problems.append(f"{where}: score {raw!r} is not a number")
            continue
        if not 0 <= score <= check.max_score:
            problems.append(f"{where}: score {raw} is outside 0..{num(check.max_score)}")
            continue
        comment = values.get("comment", "")
        if check.group != MANUAL_GROUP and not comment:
            problems.append(f"{where}: changing an automatic check needs the reason in 'comment'")
            continue
        if (sid, cid) in seen:
            problems.append(f"{where}: already graded on row {seen[(sid, cid)]}")
            continue
        seen[(sid, cid)] = number
        grades.append(ManualGrade(number, sid, cid, score, comment))
    if problems:
        raise ManualError(path, problems)
    return grades


def merge_manual(out_dir: Path, path: Path, *, grader: str | None = None) -> tuple[int, int]:
    """Validate the whole CSV, then store its grades as given by `grader` (default: the OS user), now.

    Returns (graded rows, grades new or changed). result.json is never written.
    """
    entries = load_batch(out_dir).entries
    rows = read_manual(path, entries)
    sha = {e.id: e.result.submission.sha256 for e in entries}
    who, when = grader or handgrades.current_user(), handgrades.now()
    grades = [handgrades.HandGrade(g.submission_id, g.check_id, g.score, g.comment, who, when,
                                   f"{path.name} row {g.row}", sha[g.submission_id]) for g in rows]
    return len(rows), handgrades.record(out_dir, grades)
