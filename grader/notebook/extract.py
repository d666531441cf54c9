"""Pick a function and what it needs out of a notebook's code cells, without running anything.

Each code cell is parsed with `ast` (IPython magics and shell escapes blanked first, so line numbers
stay). Top-level functions, classes, imports and plain assignments are definitions; the last one of a
name wins, as when the notebook runs top to bottom. From the start name the extraction follows the
global names each definition uses, so an import that nothing needed (a missing package, torch for the
training cells) never comes along, and a cell that fails to parse is skipped and reported.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from .cells import Cell

# cell magics whose body is ordinary Python
PYTHON_CELL_MAGICS = {"time", "timeit", "capture"}


@dataclass
class Snippet:
    """One definition: where it is in the notebook, the name it binds, and its source."""

    cell: int
    line: int
    name: str
    source: str


@dataclass
class Extraction:
    snippets: list[Snippet] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)

    def defines(self, name: str) -> bool:
        return any(s.name == name for s in self.snippets)


def python_source(source: str) -> str | None:
    """The cell as Python: line magics and `!` escapes become `pass`; None for a non-Python cell magic."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in PYTHON_CELL_MAGICS:
            return None
        lines[0] = ""
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines[i] = line[: len(line) - len(stripped)] + "pass"
    return "\n".join(lines)


def _segment(lines: list[str], node: ast.stmt) -> tuple[int, str]:
    """(first line, source) of a top-level statement, decorators included."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    start_col = node.col_offset if first == node.lineno else 0
    chunk = [line.encode() for line in lines[first - 1: node.end_lineno]]  # ast's columns count UTF-8 bytes
    chunk[-1] = chunk[-1][: node.end_col_offset]
    chunk[0] = chunk[0][start_col:]
    return first, "\n".join(c.decode("utf-8", errors="replace") for c in chunk)


def _bound_in(node: ast.AST) -> set[str]:
    """Names a function or class body binds for itself (parameters, assignments, local imports)."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            bound.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            bound.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            bound.add(sub.name)
        elif isinstance(sub, ast.Global):
            declared_global.update(sub.names)
    return bound - declared_global


def free_names(node: ast.AST) -> set[str]:
    """Global names a definition reads (approximately: any name it loads and does not bind itself)."""
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return loaded - _bound_in(node)
    return loaded


def _definitions(cells: list[Cell], unparsed: list[tuple[int, str]]) -> dict[str, tuple[Snippet, ast.AST]]:
    """Every top-level definition in notebook order, the last of each name kept."""
    found: dict[str, tuple[Snippet, ast.AST]] = {}
    for cell in cells:
        if cell.kind != "code":
            continue
        source = python_source(cell.source)
        if source is None:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            unparsed.append((cell.index, f"line {exc.lineno}: {exc.msg}"))
            continue
        except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
            unparsed.append((cell.index, type(exc).__name__))
            continue
        lines = source.split("\n")
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                line, text = _segment(lines, node)
                found[node.name] = (Snippet(cell.index, line, node.name, text), node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    one = ast.Import([alias]) if isinstance(node, ast.Import) \
                        else ast.ImportFrom(node.module, [alias], node.level)
                    name = (alias.asname or alias.name).split(".")[0]
                    found[name] = (Snippet(cell.index, node.lineno, name, ast.unparse(one)), one)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if all(isinstance(t, ast.Name) for t in targets):
                    line, text = _segment(lines, node)
                    for t in targets:
                        found[t.id] = (Snippet(cell.index, line, t.id, text), node.value)
    return found


def extract(cells: list[Cell], start: str) -> Extraction:
    """`start` and every definition it needs, in notebook order; names used but defined nowhere: `missing`."""
    result = Extraction()
    found = _definitions(cells, result.unparsed)
    wanted, seen = [start], set()
    chosen: dict[tuple[int, int, str], Snippet] = {}  # one entry per statement, even if it binds two names
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in found:
            if not hasattr(builtins, name):
                result.missing.append(name)
            continue
        snippet, node = found[name]
        chosen[(snippet.cell, snippet.line, snippet.source)] = snippet
        wanted.extend(sorted(free_names(node) - seen))
    result.snippets = [chosen[k] for k in sorted(chosen)]
    return result
