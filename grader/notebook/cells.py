"""Read a notebook as plain data in the parent (never executes anything), with a size cap."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 50 * 2**20


class NotebookError(ValueError):
    """A notebook file that cannot be read as a notebook; the message says why."""


@dataclass
class Cell:
    index: int
    kind: str  # "code" | "markdown" | "raw"
    source: str
    tags: list[str] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _list(value) -> list:
    return value if isinstance(value, list) else []


def load_cells(path: Path) -> list[Cell]:
    """The notebook's cells in order; NotebookError for a missing, oversized or malformed file."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from exc
    except ValueError as exc:
        raise NotebookError(f"{path.name} is not valid notebook JSON: {exc}") from exc
    raw_cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(raw_cells, list):
        raise NotebookError(f"{path.name} has no list of cells")
    cells = []
    for i, raw in enumerate(raw_cells):
        if not isinstance(raw, dict):
            continue
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        tags = [t for t in _list(meta.get("tags")) if isinstance(t, str)]
        outputs = [o for o in _list(raw.get("outputs")) if isinstance(o, dict)]
        cells.append(Cell(i, str(raw.get("cell_type", "raw")), _text(raw.get("source")), tags, outputs))
    return cells


def tagged(cells: list[Cell], tag: str) -> list[Cell]:
    return [c for c in cells if tag in c.tags]
