"""Cap a notebook's training budget before it runs, by rewriting its code cells (in the parent, as text).

Every assignment to a capped name (`epochs`, `steps`, `batch_size`, `num_validation`) gets its value
bounded: `epochs = 5 # comment` becomes `epochs = 1 # comment`, `epochs = n * 2` becomes
`epochs = min(n * 2, 1)`. The same holds for tuple assignments (`epochs, steps = 5, 50`), annotated
assignments, keyword arguments (`train(net, epochs=5)`) and parameter defaults (`def train(epochs=5)`).
A tuple assignment from an expression (`epochs, steps = budget()`) is followed by a capping line. Cells
are parsed with IPython magic lines blanked out; a cell that still does not parse is left alone (the kernel
rejects it too). A cell too deep or too large for the parser (`epochs = ` and a thousand `-` signs) raises
`Uncappable`, never RecursionError: the tree is walked without recursion.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass

MAGIC = re.compile(r"^(\s*)[%!]")


@dataclass(frozen=True)
class Rewrite:
    """One bounded value, for the report: which cell, which name, the text before and after."""

    cell: int
    name: str
    before: str
    after: str


class _Positions:
    """Maps the AST's (line, UTF-8 byte column) positions to offsets in the source string."""

    def __init__(self, source: str):
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)


class Uncappable(ValueError):
    """A cell the parser cannot take apart (absurdly deep or large); the message says why."""


PARSE_RECURSION_LIMIT = 1000  # CPython's default


def _parse(source: str) -> ast.Module | None:
    """The cell as Python, with magic and shell lines (`%load_ext`, `!pip`) blanked to `pass`."""
    blanked = "\n".join(MAGIC.sub(r"\1pass #", line) if MAGIC.match(line) else line
                        for line in source.split("\n"))
    limit = sys.getrecursionlimit()
    # ast's depth check follows the recursion limit, which libraries in the grader's process raise: parse
    # under Python's default, so that a cell caps (or is Uncappable) the same in every process
    sys.setrecursionlimit(PARSE_RECURSION_LIMIT)
    try:
        return ast.parse(blanked)
    except (SyntaxError, ValueError):
        return None
    except RecursionError as exc:
        raise Uncappable("nested too deeply for the parser") from exc
    except MemoryError as exc:
        raise Uncappable("too large for the parser") from exc
    finally:
        sys.setrecursionlimit(limit)


def _bounded(node: ast.expr, text: str, cap: int) -> str | None:
    """The replacement text for a value, or None when it is already within the cap."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return None if node.value <= cap else str(cap)
    return f"min({text}, {cap})"


class _Finder:
    """Collects (start, end, replacement, name) edits and lines to insert after statements, node by node."""

    def __init__(self, source: str, pos: _Positions, caps: dict[str, int]):
        self.source, self.pos, self.caps = source, pos, caps
        self.edits: list[tuple[int, int, str, str]] = []

    def _value(self, name: str, node: ast.expr) -> None:
        start, end = self.pos.span(node)
        new = _bounded(node, self.source[start:end], self.caps[name])
        if new is not None:
            self.edits.append((start, end, new, name))

    def _line_after(self, stmt: ast.stmt, names: list[str]) -> None:
        """After a statement alone on its line(s): `name = min(name, cap)` for each capped name."""
        start, end = self.pos.span(stmt)
        line_start = self.source.rfind("\n", 0, start) + 1
        line_end = self.source.find("\n", end)
        line_end = len(self.source) if line_end < 0 else line_end
        indent = self.source[line_start:start]
        rest = self.source[end:line_end].strip()
        if indent.strip() or (rest and not rest.startswith("#")):
            return
        text = "".join(f"\n{indent}{n} = min({n}, {self.caps[n]})" for n in names)
        self.edits.append((line_end, line_end, text, ", ".join(names)))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in self.caps:
                self._value(target.id, node.value)
            elif isinstance(target, (ast.Tuple, ast.List)):
                self._unpack(node, target)

    def _unpack(self, node: ast.Assign, target: ast.Tuple | ast.List) -> None:
        names = [(i, e.id) for i, e in enumerate(target.elts)
                 if isinstance(e, ast.Name) and e.id in self.caps]
        if not names:
            return
        value = node.value
        literal = (isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
                   and not any(isinstance(e, ast.Starred) for e in (*value.elts, *target.elts)))
        if literal:
            for i, name in names:
                self._value(name, value.elts[i])
        else:
            self._line_after(node, [name for _, name in names])

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and node.target.id in self.caps and node.value is not None:
            self._value(node.target.id, node.value)

    def visit_Call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg in self.caps:
                self._value(kw.arg, kw.value)

    def _defaults(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        for arg, default in pairs:
            if arg.arg in self.caps:
                self._value(arg.arg, default)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._defaults(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._defaults(node)

    def visit(self, tree: ast.AST) -> None:
        """Every node of the tree, breadth first: `ast.walk` keeps its own queue, so depth costs no stack."""
        for node in ast.walk(tree):
            method = getattr(self, f"visit_{type(node).__name__}", None)
            if method is not None:
                method(node)


def cap_source(source: str, caps: dict[str, int]) -> tuple[str, list[tuple[str, str, str]]]:
    """`source` with every capped name bounded, and (name, before, after) for each change; `Uncappable`
    for a cell the parser cannot take."""
    tree = _parse(source)
    if tree is None:
        return source, []
    finder = _Finder(source, _Positions(source), caps)
    finder.visit(tree)
    outermost: list[tuple[int, int, str, str]] = []
    for edit in sorted(finder.edits, key=lambda e: (e[0], -e[1])):
        if not outermost or edit[0] >= outermost[-1][1]:  # an edit inside a bounded value is redundant
            outermost.append(edit)
    changes = []
    for start, end, new, name in reversed(outermost):
        changes.append((name, source[start:end], new))
        source = source[:start] + new + source[end:]
    return source, changes[::-1]


def cap_cells(sources: list[tuple[int, str]], caps: dict[str, int]
              ) -> tuple[dict[int, str], list[Rewrite], dict[int, str]]:
    """Cap each (cell index, source); the changed sources by index, every rewrite made, and why each cell
    that could not be analysed was left as it is (by index)."""
    changed, rewrites, uncapped = {}, [], {}
    for index, source in sources:
        try:
            new, changes = cap_source(source, caps)
        except Uncappable as exc:
            uncapped[index] = str(exc)
            continue
        if changes:
            changed[index] = new
            rewrites.extend(Rewrite(index, name, before, after) for name, before, after in changes)
    return changed, rewrites, uncapped
