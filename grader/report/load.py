"""Reading a results folder: every `DIR/*/result.json`, with the files written beside it."""

from __future__ import annotations

import base64
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..results import SubmissionResult
from ..roster import ROSTER_FILE

if TYPE_CHECKING:
    from .handgrades import HandGrade

# Images up to this size are embedded in the pages, so a page is one self-contained file.
MAX_EMBED_BYTES = 4 * 1024 * 1024
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"}


class ReportError(Exception):
    """A problem the person running `unet-grader report` must fix (bad folder, bad manual CSV)."""


@dataclass
class Entry:
    """One submission's result and the folder it was read from (its pages and artifacts live there)."""

    folder: Path
    result: SubmissionResult

    @property
    def id(self) -> str:
        return self.result.submission.id

    @property
    def page_href(self) -> str:
        """The student page, relative to the results folder."""
        return f"{quote(self.folder.name)}/report.html"

    def artifact(self, relative: object) -> Path | None:
        """An artifact file named in `details`, if it is a plain file inside the submission's folder."""
        if not isinstance(relative, str) or not relative:
            return None
        base = self.folder.resolve()
        path = base / relative
        try:
            if path.is_symlink() or not path.resolve().is_relative_to(base) or not path.is_file():
                return None
        except OSError:
            return None
        return path


@dataclass
class Unreadable:
    """A result that could not be read or shown; listed on the dashboard instead of stopping the batch."""

    folder: Path
    reason: str


@dataclass
class RosterStudent:
    student_id: str
    name: str
    submissions: list[str]


@dataclass
class Roster:
    """`DIR/roster.json` (written by `grade --roster`, schema in grader/roster.py): the class list, in order,
    and the archives whose names hold several students' ids."""

    students: list[RosterStudent]
    ambiguous: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Batch:
    entries: list[Entry]
    unreadable: list[Unreadable]
    roster: Roster | None = None
    # Stored hand grades (grader/report/handgrades.py) for a submission or check no result has now.
    manual_unused: list[HandGrade] = field(default_factory=list)


def load_roster(out_dir: Path) -> Roster:
    """`out_dir/roster.json`; raises OSError, ValueError, KeyError or TypeError when it is not as written."""
    data = json.loads((out_dir / ROSTER_FILE).read_text(encoding="utf-8"))
    students = [RosterStudent(str(s["student_id"]), str(s.get("name") or ""), [str(i) for i in s["submissions"]])
                for s in data["students"]]
    ambiguous = {str(a["submission"]): [str(i) for i in a["student_ids"]] for a in data.get("ambiguous", [])}
    return Roster(students, ambiguous)


def load_batch(out_dir: Path) -> Batch:
    """Every `out_dir/*/result.json`, in folder-name order, and the roster when the folder has one.

    The TAs' grades stored in `out_dir/_manual.json` are merged into the results (in memory only:
    result.json stays the automatic result); a store that cannot be read raises ReportError.
    """
    if not out_dir.is_dir():
        raise ReportError(f"no results folder {out_dir}")
    entries: list[Entry] = []
    unreadable: list[Unreadable] = []
    for path in sorted(out_dir.glob("*/result.json")):
        try:
            entries.append(Entry(path.parent, SubmissionResult.read(path)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable.append(Unreadable(path.parent, f"{type(exc).__name__}: {exc}"))
    roster = None
    if (out_dir / ROSTER_FILE).is_file():
        try:
            roster = load_roster(out_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            unreadable.append(Unreadable(out_dir / ROSTER_FILE, f"{type(exc).__name__}: {exc}"))
    from . import handgrades  # which imports this module

    unused = handgrades.apply([e.result for e in entries], handgrades.load(out_dir))
    return Batch(entries, unreadable, roster, unused)


def data_uri(path: Path) -> str | None:
    """The file as a `data:` URI when it is an image small enough to embed, else None."""
    mime, _ = mimetypes.guess_type(path.name)
    if mime not in IMAGE_TYPES or path.stat().st_size > MAX_EMBED_BYTES:
        return None
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
