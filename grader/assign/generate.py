"""Render the student kit from the reference solution, in memory: relative path -> file bytes.

`.py` and `.md` files have their regions blanked; the notebook has its regions blanked per cell and its
outputs and execution counts cleared; every other file is copied as it is. The result depends only on
the solution files, so regenerating gives byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from .regions import MARKDOWN, PYTHON, RegionError, Syntax, blank

# Left behind by running or editing the kit; never part of it.
IGNORED_PARTS = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache"})
IGNORED_SUFFIXES = frozenset({".pyc", ".pyo"})

SOURCE_SYNTAX = {".py": PYTHON, ".md": MARKDOWN}
CELL_SYNTAX = {"code": PYTHON, "markdown": MARKDOWN}
# Written by nbclient or Jupyter while running; they describe one run, not the kit.
RUN_METADATA = ("execution", "collapsed", "scrolled")


def is_ignored(rel: PurePosixPath) -> bool:
    return bool(IGNORED_PARTS.intersection(rel.parts)) or rel.suffix in IGNORED_SUFFIXES


def kit_files(root: Path) -> list[PurePosixPath]:
    """The kit's files under `root`, relative and sorted."""
    rels = (PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file())
    return sorted(rel for rel in rels if not is_ignored(rel))


def render_kit(solutions: Path) -> dict[str, bytes]:
    """Every file of the student kit, keyed by its POSIX path relative to the kit's root."""
    kit: dict[str, bytes] = {}
    for rel in kit_files(solutions):
        try:
            kit[str(rel)] = render_file(solutions / rel)
        except RegionError as exc:
            raise RegionError(f"{solutions / rel}: {exc}") from None
    return kit


def render_file(path: Path) -> bytes:
    if path.suffix == ".ipynb":
        return render_notebook(path.read_text(encoding="utf-8")).encode("utf-8")
    syntax = SOURCE_SYNTAX.get(path.suffix)
    if syntax is None:
        return path.read_bytes()
    return blank(path.read_text(encoding="utf-8"), syntax).encode("utf-8")


def render_notebook(text: str) -> str:
    """The student's notebook: regions blanked, outputs and run metadata cleared, tags kept."""
    nb = json.loads(text)
    for index, cell in enumerate(nb["cells"]):
        syntax = CELL_SYNTAX.get(cell["cell_type"])
        if syntax is not None:
            cell["source"] = _split_source(_blank_cell(cell, syntax, index))
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
    # The same layout nbformat writes, so Jupyter's own saves do not rewrite the whole file.
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _blank_cell(cell: dict, syntax: Syntax, index: int) -> str:
    source = cell["source"]
    text = source if isinstance(source, str) else "".join(source)
    try:
        return blank(text, syntax)
    except RegionError as exc:
        raise RegionError(f"cell {index} ({cell.get('id', 'no id')}): {exc}") from None


def _split_source(text: str) -> list[str]:
    return text.splitlines(keepends=True)
