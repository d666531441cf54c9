"""The class roster: which archive belongs to which student, and who handed in nothing.

`--roster roster.csv` names the students: a student id and a name per row (a header row such as
`student_id,name` or `学号,姓名` is recognised and may name the columns in any order; without one, the
first two columns are taken). UTF-8 with or without BOM; GBK (as Excel saves CSV on Chinese Windows) is
tolerated. An archive belongs to a student when the student's id appears in its name (or the name of the
folder it came in) as a whole token: `2024001_张三.tar.gz`, `2024001张三.zip` and `2024001/week-06.tar.gz`
match `2024001`; `20240015.tar.gz` does not.

The match is written to `DIR/roster.json` for the reports (schema below, `ROSTER_FILE`); a later run
without `--roster` reuses the students listed there.

    {"schema_version": 1, "roster": "roster.csv",
     "students": [{"student_id": "2024001", "name": "张三", "status": "submitted",
                   "submissions": ["2024001_张三"]},
                  {"student_id": "2024002", "name": "李四", "status": "missing", "submissions": []}],
     "unmatched": [{"submission": "final", "source": "final.tar.gz"}],
     "ambiguous": [{"submission": "1_2", "source": "1_2.zip", "student_ids": ["1", "2"]}]}

`status` is `submitted` or `missing`; `submissions` are submission ids, i.e. folder names `DIR/<id>/`
holding result.json (several when a student handed in more than one archive). `unmatched` lists
archives whose name holds no roster id, `ambiguous` those whose name holds several equally long ones.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .intake import SubmissionSource

ROSTER_FILE = "roster.json"
SCHEMA_VERSION = 1
ID_HEADERS = {"student_id", "student id", "studentid", "student_no", "student number", "id", "sid", "学号",
              "学生学号", "编号"}
NAME_HEADERS = {"name", "student_name", "student name", "full name", "姓名", "名字", "学生姓名"}


class RosterError(ValueError):
    """A roster file that cannot be used; the message says why."""


@dataclass
class Student:
    student_id: str
    name: str
    submissions: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "submitted" if self.submissions else "missing"


def decode_csv(raw: bytes) -> str | None:
    """A CSV as Excel saves it: UTF-8 (with or without BOM) or GBK; None when it is neither."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _decode(raw: bytes, path: Path) -> str:
    text = decode_csv(raw)
    if text is None:
        raise RosterError(f"{path}: not UTF-8 or GBK text; save the roster as CSV (UTF-8)")
    return text


def _columns(header: list[str]) -> tuple[int, int] | None:
    """(id column, name column) when `header` is a header row."""
    names = [h.strip().lower() for h in header]
    id_col = next((i for i, h in enumerate(names) if h in ID_HEADERS), None)
    name_col = next((i for i, h in enumerate(names) if h in NAME_HEADERS), None)
    if id_col is None or name_col is None:
        return None
    return id_col, name_col


def read_roster(path: Path) -> list[Student]:
    """The students of a roster CSV, in file order; raises `RosterError` with the reason."""
    try:
        content = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise RosterError(f"cannot read roster {path}: {exc.strerror or exc}") from exc
    try:
        dialect = csv.Sniffer().sniff(content[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(content), dialect), start=1)
            if any(c.strip() for c in r)]
    if not rows:
        raise RosterError(f"roster {path} is empty")
    header = _columns(rows[0][1])
    # An unknown header still reads as one: student ids hold digits, column titles do not.
    if header is not None or not any(ch.isdigit() for ch in rows[0][1][0]):
        rows = rows[1:]
    id_col, name_col = header or (0, 1)
    students: list[Student] = []
    seen: set[str] = set()
    for number, row in rows:
        sid = row[id_col].strip() if len(row) > id_col else ""
        if not sid:
            raise RosterError(f"roster {path}, line {number}: no student id")
        if sid.casefold() in seen:
            raise RosterError(f"roster {path}, line {number}: student id {sid} appears twice")
        seen.add(sid.casefold())
        students.append(Student(sid, row[name_col].strip() if len(row) > name_col else ""))
    if not students:
        raise RosterError(f"roster {path} lists no students")
    return students


def derived_id(source: str, submission_id: str) -> str:
    """A student id without a roster: the leading digits of the file or folder name handed in
    (`2024001_张三.tar.gz` -> `2024001`), else of the submission id (`2024001-week-06`, an LMS folder's
    archive), else the submission id itself."""
    for name in (source, submission_id):
        digits = re.match(r"[0-9]+", name)
        if digits:
            return digits.group()
    return submission_id


def _token(sid: str) -> re.Pattern[str]:
    """The id as a whole token: not glued to a Latin letter or digit on either side (a Chinese name may
    follow it directly, as in `2024001张三.zip`)."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(sid)}(?![0-9A-Za-z])", re.IGNORECASE)


def _names(source: SubmissionSource) -> str:
    """What an archive is called: its id (which holds the names of the folders it came in), its file name."""
    return f"{source.id}\n{source.path.name}"


@dataclass
class Match:
    students: list[Student]
    unmatched: list[SubmissionSource]
    ambiguous: list[tuple[SubmissionSource, list[str]]]


def match(students: list[Student], sources: list[SubmissionSource]) -> Match:
    """Give each submission to the student whose id its name holds. When a name holds several ids, the
    longest wins (one id may contain another: `2024012` and `2024012-1`); equally long ones are ambiguous."""
    patterns = [(s, _token(s.student_id)) for s in students]
    for s in students:
        s.submissions = []
    unmatched: list[SubmissionSource] = []
    ambiguous: list[tuple[SubmissionSource, list[str]]] = []
    for source in sources:
        names = _names(source)
        hits = [s for s, pattern in patterns if pattern.search(names)]
        if not hits:
            unmatched.append(source)
            continue
        longest = max(len(s.student_id) for s in hits)
        best = [s for s in hits if len(s.student_id) == longest]
        if len(best) > 1:
            ambiguous.append((source, [s.student_id for s in best]))
            continue
        best[0].submissions.append(source.id)
    return Match(students, unmatched, ambiguous)


def to_json(found: Match, roster: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "roster": roster,
        "students": [{"student_id": s.student_id, "name": s.name, "status": s.status,
                      "submissions": s.submissions} for s in found.students],
        "unmatched": [{"submission": src.id, "source": src.path.name} for src in found.unmatched],
        "ambiguous": [{"submission": src.id, "source": src.path.name, "student_ids": ids}
                      for src, ids in found.ambiguous],
    }


def write(out_dir: Path, found: Match, roster: str) -> Path:
    path = out_dir / ROSTER_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(to_json(found, roster), ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def kept_roster(out_dir: Path) -> tuple[list[Student], str] | None:
    """The students of the folder's earlier roster.json, to match this run's archives against."""
    try:
        data = json.loads((out_dir / ROSTER_FILE).read_text(encoding="utf-8"))
        students = [Student(str(s["student_id"]), str(s.get("name", ""))) for s in data["students"]]
        return students, str(data.get("roster", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
