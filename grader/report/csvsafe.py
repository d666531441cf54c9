"""Formula-safe CSV cells (OWASP's CSV-injection rule), for every spreadsheet the grader writes.

A spreadsheet runs a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula
(`=HYPERLINK(...)` in a student's name or answer would run on the TA's machine). Such a cell is written
with a single quote in front, which Excel and LibreOffice show as text and never evaluate. Numbers are left
alone, so a negative score stays a number; `unescape` reads a written cell back as it was.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _escaped(value: str) -> bool:
    """Whether `value` starts a formula, or is one behind quotes (escaped too, so reading back is exact)."""
    bare = value.lstrip("'")
    return bare.startswith(TRIGGERS) and not NUMBER.fullmatch(bare)


def cell(value: Any) -> Any:
    """The value as a spreadsheet may show it: a text that would start a formula gets a leading `'`."""
    return "'" + value if isinstance(value, str) and _escaped(value) else value


def unescape(value: str) -> str:
    """A cell `cell` wrote, read back as the original text (a TA's own `'=...` is read the same way)."""
    return value[1:] if value.startswith("'") and _escaped(value[1:]) else value


class SafeWriter:
    """`csv.writer` with every cell passed through `cell`."""

    def __init__(self, f: IO[str], **kwargs: Any):
        self._writer = csv.writer(f, **kwargs)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(f: IO[str], **kwargs: Any) -> SafeWriter:
    """The one CSV writer of the grader: use it for every file a TA may open in a spreadsheet."""
    return SafeWriter(f, **kwargs)
