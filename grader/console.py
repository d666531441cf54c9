"""Plain-text tables and durations for the terminal, with Chinese characters counted as two columns."""

from __future__ import annotations

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


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under a header and a rule, columns padded. The last column is left ragged, so a long hint
    does not widen every row, and may hold several lines (say, Chinese then English), each under the last."""
    widths = [max(width(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    indent = " " * (sum(widths) + 2 * len(widths))

    def line(cells: Sequence[str]) -> str:
        padded = [pad(str(c), w) for c, w in zip(cells[:-1], widths, strict=True)]
        first, *more = str(cells[-1]).split("\n")
        return "\n".join(["  ".join([*padded, first]).rstrip(), *(indent + m for m in more)])

    rule = "  ".join(["-" * w for w in widths] + ["-" * max(width(headers[-1]), 4)])
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


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
