"""Plain-text tables and durations for the terminal, with Chinese characters counted as two columns."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence


def width(s: str) -> int:
    """Terminal columns `s` takes: wide and full-width characters (Chinese) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
               for ch in s)


def clip(s: str, columns: int) -> str:
    """`s` cut to at most `columns` terminal columns, ending in `…` when cut."""
    if width(s) <= columns:
        return s
    out, used = [], 0
    for ch in s:
        w = width(ch)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(s: str, columns: int) -> str:
    return s + " " * max(columns - width(s), 0)


def wrap(s: str, columns: int) -> list[str]:
    """`s` as lines of at most `columns` terminal columns: broken at spaces, or between Chinese characters
    (which need none); a word longer than a line is cut."""
    lines: list[str] = []
    for paragraph in s.split("\n"):
        line = ""
        for token in re.findall(r"\S+\s*|\s+", paragraph):
            # a word goes whole; Chinese (two columns a character, no spaces) breaks anywhere
            wide = width(token) > len(token)
            pieces = list(token) if wide or width(token.rstrip()) > columns else [token]
            for piece in pieces:
                candidate = line + piece
                if width(candidate.rstrip()) <= columns:
                    line = candidate
                    continue
                if line.strip():
                    lines.append(line.rstrip())
                line = piece.lstrip()
        lines.append(line.rstrip())
    return lines


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], columns: int | None = None) -> str:
    """Rows under a header and a rule, columns padded. The last column is left ragged, so a long hint
    does not widen every row, and may hold several lines (say, Chinese then English), each under the last.

    With `columns`, the last column goes on lines of its own under each row, indented past the first
    column and wrapped, so that every line fits in `columns`.
    """
    if columns is not None:
        return _narrow(headers, rows, columns)
    widths = [max(width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    indent = " " * (sum(widths) + 2 * len(widths))

    def line(cells: Sequence[str]) -> str:
        padded = [pad(str(c), w) for c, w in zip(cells[:-1], widths, strict=True)]
        first, *more = str(cells[-1]).split("\n")
        return "\n".join(["  ".join([*padded, first]).rstrip(), *(indent + m for m in more)])

    rule = "  ".join(["-" * w for w in widths] + ["-" * max(width(headers[-1]), 4)])
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _narrow(headers: Sequence[str], rows: Sequence[Sequence[str]], columns: int) -> str:
    shown = [[str(c) for c in r[:-1]] for r in [headers, *rows]]
    widths = [max(width(r[i]) for r in shown) for i in range(len(headers) - 1)]
    indent = " " * (widths[0] + 2)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(pad(c, w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(shown[0]) + "  " + headers[-1] if width(line(shown[0]) + headers[-1]) + 2 <= columns
           else line(shown[0]), "  ".join("-" * w for w in widths)]
    for cells, row in zip(shown[1:], rows, strict=True):
        out.append(line(cells))
        out.extend(indent + part for part in wrap(str(row[-1]), columns - len(indent)) if part)
    return "\n".join(out)


def duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"
