"""Solution regions: find them in a source text and replace each with the student's prompt.

Python (`.py` files and notebook code cells)::

    # BEGIN SOLUTION <label> [no-raise]
    # PROMPT: one line of the TODO shown to the student (any number, right after BEGIN)
    ...reference code...
    # END SOLUTION

becomes, at the BEGIN line's indentation, `# TODO (<label>): ...` lines made from the prompts, then
`raise NotImplementedError(...)` unless the region says `no-raise`.

Markdown (`.md` files and notebook markdown cells)::

    <!-- BEGIN SOLUTION <label> -->
    ...reference answer...
    <!-- END SOLUTION -->

becomes one HTML comment asking for the student's answer (hidden when rendered, so an untouched answer
cell stays blank).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

NO_RAISE = "no-raise"


class RegionError(ValueError):
    """A solution source whose markers cannot be read (unbalanced, nested, unknown flag, bad result)."""


@dataclass(frozen=True)
class Region:
    """One marked region; `start` and `end` index the BEGIN and END lines."""

    label: str
    start: int
    end: int
    indent: str
    prompt: tuple[str, ...]
    raises: bool
    body: tuple[str, ...]


@dataclass(frozen=True)
class Syntax:
    """How one kind of source marks regions and what replaces them."""

    name: str
    begin: re.Pattern[str]
    end: re.Pattern[str]
    prompt: re.Pattern[str] | None
    stub: Callable[[Region], list[str]]


def _python_stub(region: Region) -> list[str]:
    first, *rest = region.prompt or ("请完成这里的代码 / complete the code here",)
    lines = [f"# TODO ({region.label}): {first}", *(f"#   {line}" for line in rest)]
    if region.raises:
        message = f"{region.label}: 请按上面的 TODO 完成这里 / complete this part as the TODO above says"
        lines.append(f"raise NotImplementedError({message!r})")
    return [region.indent + line for line in lines]


def _markdown_stub(region: Region) -> list[str]:
    # A comment, so an untouched answer cell still reads as blank to the answers check.
    return [f"{region.indent}<!-- 在这里写下你的答案 / Write your answer here -->"]


PYTHON = Syntax(
    name="python",
    begin=re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s+(?P<label>\S+)(?P<flags>(?:\s+\S+)*)\s*$"),
    end=re.compile(r"^\s*# END SOLUTION\s*$"),
    prompt=re.compile(r"^\s*# PROMPT:\s?(?P<text>.*?)\s*$"),
    stub=_python_stub,
)

MARKDOWN = Syntax(
    name="markdown",
    begin=re.compile(r"^(?P<indent>\s*)<!-- BEGIN SOLUTION\s+(?P<label>\S+)(?P<flags>(?:\s+\S+)*?)\s*-->$"),
    end=re.compile(r"^\s*<!-- END SOLUTION\s*-->\s*$"),
    prompt=None,
    stub=_markdown_stub,
)

# A marker-looking line that the exact patterns above did not accept is a typo, not prose.
_LOOSE_MARKER = re.compile(r"\b(BEGIN|END) SOLUTION\b")


def find_regions(text: str, syntax: Syntax) -> list[Region]:
    """Every region in `text`, in order; raises RegionError on malformed markers."""
    lines = text.split("\n")
    regions: list[Region] = []
    i = 0
    while i < len(lines):
        match = syntax.begin.match(lines[i])
        if not match:
            if syntax.end.match(lines[i]) or _LOOSE_MARKER.search(lines[i]):
                raise RegionError(f"line {i + 1}: unexpected marker {lines[i].strip()!r}")
            i += 1
            continue
        flags = match["flags"].split()
        if any(flag != NO_RAISE for flag in flags) or (flags and syntax is MARKDOWN):
            raise RegionError(f"line {i + 1}: unknown flag in {lines[i].strip()!r}")
        end = _find_end(lines, i, syntax)
        prompt, body = _split_prompt(lines[i + 1 : end], syntax)
        regions.append(
            Region(match["label"], i, end, match["indent"], prompt, NO_RAISE not in flags, tuple(body))
        )
        i = end + 1
    return regions


def _find_end(lines: list[str], start: int, syntax: Syntax) -> int:
    for j in range(start + 1, len(lines)):
        if syntax.end.match(lines[j]):
            return j
        if syntax.begin.match(lines[j]):
            raise RegionError(f"line {j + 1}: a region opened on line {start + 1} is still open")
    raise RegionError(f"line {start + 1}: region is never closed")


def _split_prompt(inner: list[str], syntax: Syntax) -> tuple[tuple[str, ...], list[str]]:
    """The PROMPT lines that open a region, and the reference lines after them."""
    prompt: list[str] = []
    for line in inner:
        match = syntax.prompt.match(line) if syntax.prompt else None
        if not match:
            break
        prompt.append(match["text"])
    return tuple(prompt), inner[len(prompt) :]


def blank(text: str, syntax: Syntax) -> str:
    """`text` with every region replaced by its stub."""
    regions = find_regions(text, syntax)
    if not regions:
        return text
    lines = text.split("\n")
    out: list[str] = []
    cursor = 0
    for region in regions:
        out.extend(lines[cursor : region.start])
        out.extend(syntax.stub(region))
        cursor = region.end + 1
    out.extend(lines[cursor:])
    result = "\n".join(out)
    if syntax is PYTHON:
        _must_parse(result)
    return result


def _must_parse(source: str) -> None:
    """A blanked region must leave runnable code (IPython magics and shell lines are skipped)."""
    plain = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
    try:
        ast.parse(plain)
    except SyntaxError as exc:
        raise RegionError(f"line {exc.lineno}: the blanked code does not parse: {exc.msg}") from exc
