"""Late work: when each submission was handed in, and the rubric's penalty for handing it in after the deadline.

The submission time comes from `--times FILE.csv` (a submission or student id and a time per row), else
from the archive's modification time, which an LMS download usually carries as the upload time. Times and
the deadline are ISO 8601 (`2024-04-20T23:59+08:00`, or as Excel writes them, `2024/4/20 23:59`); one
without a zone is in this machine's local zone.

`grade --deadline` writes, for every submission (kept or graded now), `extra.late` into its result.json:

    {"deadline": "2024-04-20T23:59:00+08:00", "submitted_at": "2024-04-21T01:00:00+08:00",
     "source": "times" | "mtime", "source_file": "times.csv" | "<the archive's file name>",
     "fallback": false, "times_file": "times.csv" | null, "minutes_late": 61.0, "days_late": 1, "penalty": 10.0,
     "policy": {"per_day": 10.0, "unit": "percent", "cap": 50.0, "grace_minutes": 15.0}}

`penalty` is in points; the raw score stays as it is, and the reports show `final = max(0, score -
penalty)`, the score counting any hand grades merged since. The deadline and the times file are kept in
`DIR/late.json` (`LATE_FILE`), so that a later `grade` of the same folder applies them again.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .intake import SubmissionSource
from .results import SubmissionResult
from .roster import ID_HEADERS, _names, _token, decode_csv

LATE_FILE = "late.json"
UNITS = ("percent", "points")
TIME_HEADERS = {
    "time",
    "submitted",
    "submitted_at",
    "submitted at",
    "submission time",
    "timestamp",
    "date",
    "提交时间",
    "时间",
    "提交日期",
}
SUBMISSION_HEADERS = {"submission", "submission_id", "submission id", "file", "提交"}
EXCEL_FORMATS = ("%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")


class LateError(ValueError):
    """A deadline, times file or late policy that cannot be used; the message says why."""


@dataclass(frozen=True)
class Policy:
    """The rubric's `[late]` table: `per_day` off per day late (partial days count whole), at most `cap`."""

    per_day: float
    unit: str = "percent"  # "percent" of the submission's max score, or "points"
    cap: float | None = None  # in `unit`; None: no cap
    grace_minutes: float = 0.0  # this late or less is on time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_policy(table: Any, where: str) -> Policy:
    """A `[late]` table as a Policy; raises LateError naming the bad key."""
    if not isinstance(table, dict):
        raise LateError(f"{where}: [late] must be a table")
    unknown = sorted(set(table) - {"per_day", "unit", "cap", "grace_minutes"})
    if unknown:
        raise LateError(f"{where}: [late] has unknown key(s) {', '.join(unknown)}")
    numbers = {}
    for key in ("per_day", "cap", "grace_minutes"):
        value = table.get(key)
        if value is None and key != "per_day":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise LateError(f"{where}: [late] {key} must be a number >= 0, got {value!r}")
        numbers[key] = float(value)
    unit = table.get("unit", "percent")
    if unit not in UNITS:
        raise LateError(f"{where}: [late] unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return Policy(
        per_day=numbers["per_day"], unit=unit, cap=numbers.get("cap"), grace_minutes=numbers.get("grace_minutes", 0.0)
    )


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (or Excel's `2024/4/20 23:59`) with its zone; a naive one is in the local zone."""
    raw = value.strip()
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        for fmt in EXCEL_FORMATS:
            try:
                when = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"not a time: {value!r} (expected ISO 8601, e.g. 2024-04-20T23:59+08:00)") from None
    return when if when.tzinfo is not None else when.astimezone()


def _decode(raw: bytes, path: Path) -> str:
    text = decode_csv(raw)
    if text is None:
        raise LateError(f"{path}: not UTF-8 or GBK text; save the times file as CSV (UTF-8)")
    return text


def _columns(header: list[str]) -> tuple[int, int] | None:
    """(id column, time column) when `header` is a header row."""
    names = [h.strip().lower() for h in header]
    ids = ID_HEADERS | SUBMISSION_HEADERS
    id_col = next((i for i, h in enumerate(names) if h in ids), None)
    time_col = next((i for i, h in enumerate(names) if h in TIME_HEADERS), None)
    return None if id_col is None or time_col is None else (id_col, time_col)


def read_times(path: Path) -> dict[str, datetime]:
    """Submission or student id -> submission time, from a CSV (UTF-8 or GBK, header row optional)."""
    try:
        content = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise LateError(f"cannot read times file {path}: {exc.strerror or exc}") from exc
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(content)), start=1) if any(c.strip() for c in r)]
    if not rows:
        raise LateError(f"times file {path} is empty")
    header = _columns(rows[0][1])
    if header is not None:
        rows = rows[1:]
    elif len(rows[0][1]) > 1:
        try:
            parse_time(rows[0][1][1])
        except ValueError:
            rows = rows[1:]  # a header with other titles: its second cell is no time
    id_col, time_col = header or (0, 1)
    times: dict[str, datetime] = {}
    for number, row in rows:
        key = row[id_col].strip() if len(row) > id_col else ""
        if not key:
            raise LateError(f"times file {path}, line {number}: no id")
        try:
            times[key] = parse_time(row[time_col] if len(row) > time_col else "")
        except ValueError as exc:
            raise LateError(f"times file {path}, line {number}: {exc}") from None
    return times


@dataclass(frozen=True)
class Stamp:
    """When a submission was handed in, and how the grader knows."""

    at: datetime
    source: str  # "times" (the times file) or "mtime" (the archive's modification time)
    source_file: str
    fallback: bool = False  # a times file was given but does not list this submission
    times_file: str = ""  # the times file's name, when one was given


def _listed(times: dict[str, datetime], source: SubmissionSource) -> datetime | None:
    """The time of the submission's own id, else of the longest id its name holds as a whole token (as the
    roster matches students)."""
    folded = {k.casefold(): v for k, v in times.items()}
    if source.id.casefold() in folded:
        return folded[source.id.casefold()]
    names = _names(source)
    hits = [k for k in times if _token(k).search(names)]
    return times[max(hits, key=len)] if hits else None


def submission_time(source: SubmissionSource, times: dict[str, datetime] | None, times_name: str = "") -> Stamp:
    """From the times file when it lists the submission, else the file's modification time."""
    if times is not None and (at := _listed(times, source)) is not None:
        return Stamp(at, "times", times_name, times_file=times_name)
    mtime = datetime.fromtimestamp(source.path.stat().st_mtime, tz=timezone.utc).astimezone()
    return Stamp(mtime, "mtime", source.path.name, fallback=times is not None, times_file=times_name)


def days_late(deadline: datetime, at: datetime, grace_minutes: float) -> int:
    """Whole days late, a partial day counting as one; within the grace period is on time."""
    late = at - deadline
    if late <= timedelta(minutes=grace_minutes):
        return 0
    return math.ceil(late / timedelta(days=1))


def penalty(policy: Policy, days: int, max_score: float) -> float:
    """Points off for `days` late, at most the cap."""
    off = policy.per_day * days
    if policy.cap is not None:
        off = min(off, policy.cap)
    points = off * max_score / 100 if policy.unit == "percent" else off
    return round(min(points, max_score), 4)


def record(stamp: Stamp, deadline: datetime, policy: Policy, max_score: float) -> dict[str, Any]:
    """The `extra.late` of result.json (schema in the module's docstring)."""
    days = days_late(deadline, stamp.at, policy.grace_minutes)
    return {
        "deadline": deadline.isoformat(),
        "submitted_at": stamp.at.astimezone(deadline.tzinfo).isoformat(),
        "source": stamp.source,
        "source_file": stamp.source_file,
        "fallback": stamp.fallback,
        "times_file": stamp.times_file or None,
        "minutes_late": round(max(0.0, (stamp.at - deadline) / timedelta(minutes=1)), 1),
        "days_late": days,
        "penalty": penalty(policy, days, max_score),
        "policy": policy.to_dict(),
    }


def final_score(result: SubmissionResult) -> float:
    """The score after the late penalty (the score itself when none was applied)."""
    late = result.extra.get("late")
    off = late.get("penalty") if isinstance(late, dict) else None
    if isinstance(off, bool) or not isinstance(off, (int, float)):
        return result.score
    return round(max(0.0, result.score - off), 4)


@dataclass(frozen=True)
class Deadline:
    """What `grade` applies: the deadline, the rubric's policy and the times file (None: file times)."""

    at: datetime
    policy: Policy
    times: Path | None = None

    def write(self, out_dir: Path) -> None:
        data = {"deadline": self.at.isoformat(), "times": str(self.times.resolve()) if self.times else None}
        (out_dir / LATE_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")


def _kept(out_dir: Path) -> tuple[datetime, Path | None] | None:
    """The deadline and times file `DIR/late.json` keeps, or None when the folder has none."""
    try:
        kept = json.loads((out_dir / LATE_FILE).read_text(encoding="utf-8"))
        return parse_time(kept["deadline"]), Path(kept["times"]) if kept.get("times") else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LateError(f"{out_dir / LATE_FILE} cannot be read ({exc}); give --deadline again") from None


def settle(out_dir: Path, deadline: datetime | None, times: Path | None, policy: Policy | None) -> Deadline | None:
    """This run's deadline and times file: each the one given, else the one `DIR/late.json` keeps (so that a
    new deadline keeps the times file, and new times keep the deadline); None when there is no deadline."""
    try:
        kept = _kept(out_dir)
    except LateError:
        if deadline is None:
            raise
        kept = None  # a new deadline replaces what the broken file kept
    if kept is not None:
        deadline, times = deadline or kept[0], times or kept[1]
    if deadline is None:
        if times is not None:
            raise LateError("--times needs --deadline (the folder keeps no deadline yet)")
        return None
    if policy is None:
        raise LateError("the rubric has no [late] table, so --deadline has no penalty to apply")
    if times is not None:
        read_times(times)  # a bad times file is a usage error before any grading
    return Deadline(deadline, policy, times)


def apply(out_dir: Path, sources: list[SubmissionSource], late: Deadline) -> list[str]:
    """Write `extra.late` into every source's result.json and keep the deadline in DIR/late.json; return the
    ids that a times file was given for but does not list."""
    times = read_times(late.times) if late.times is not None else None
    fallbacks = []
    for source in sources:
        path = out_dir / source.id / "result.json"
        try:
            result = SubmissionResult.read(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # never graded (interrupted) or unreadable: the reports list it as such
        stamp = submission_time(source, times, late.times.name if late.times else "")
        fallbacks += [source.id] if stamp.fallback else []
        result.extra["late"] = record(stamp, late.at, late.policy, result.max_score)
        result.write(path)
    late.write(out_dir)
    return fallbacks
