"""The parent's side of running a notebook: the capped copy it hands in, the executed copy it reads back.

The executed notebook comes from the sandbox and is untrusted: it is read as JSON through nbformat (which
never executes anything), within a size cap, and only its outputs are used; the cells' sources are the
parent's own capped copy.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any

import nbformat

from .cap import Rewrite, cap_cells
from .cells import MAX_NOTEBOOK_BYTES

MAX_EXECUTED_BYTES = 30 * 2**20
MAX_PNG_BYTES = 5 * 2**20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class NotebookUnreadable(ValueError):
    """A notebook nbformat cannot read; the message says why."""


def _read(path: Path, limit: int) -> nbformat.NotebookNode:
    try:
        if not path.is_file() or path.is_symlink():
            raise NotebookUnreadable(f"{path.name} is missing")
        if path.stat().st_size > limit:
            raise NotebookUnreadable(f"{path.name} is larger than {limit // 2**20} MB")
        nb = nbformat.read(path, as_version=4)  # schema problems only warn: Jupyter opens such files too
        if not isinstance(nb.get("cells"), list):
            raise NotebookUnreadable(f"{path.name} has no list of cells")
    except NotebookUnreadable:
        raise
    except Exception as exc:  # nbformat raises JSON, schema and conversion errors of many kinds
        raise NotebookUnreadable(f"{path.name} is not a valid notebook: {str(exc)[:300]}") from exc
    return nb


def capped_copy(notebook: Path, caps: dict[str, int], dest: Path
                ) -> tuple[nbformat.NotebookNode, list[Rewrite]]:
    """Write the submitted notebook to `dest` without outputs and with its training budget capped."""
    nb = _read(notebook, MAX_NOTEBOOK_BYTES)
    try:
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        sources = [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
        changed, rewrites = cap_cells(sources, caps)
        for index, source in changed.items():
            nb.cells[index].source = source
        nbformat.write(nb, dest)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # cells without a type or a source
        raise NotebookUnreadable(f"{notebook.name} has malformed cells: {exc}") from exc
    return nb, rewrites


def read_executed(data: bytes | None) -> nbformat.NotebookNode | None:
    """The executed notebook the sandbox sent back, or None when it is missing or not a valid notebook."""
    if data is None or len(data) > MAX_EXECUTED_BYTES:
        return None
    try:
        nb = nbformat.reads(data.decode("utf-8", errors="replace"), as_version=4)
    except Exception:  # nbformat raises JSON, schema and conversion errors of many kinds
        return None
    return nb if isinstance(nb.get("cells"), list) else None


def executed_cell(executed: nbformat.NotebookNode | None, index: int, source: str) -> dict[str, Any] | None:
    """The executed cell at `index`, if it is the code cell the parent handed in."""
    if executed is None or index >= len(executed.cells):
        return None
    cell = executed.cells[index]
    same = isinstance(cell, dict) and cell.get("cell_type") == "code" and cell.get("source") == source
    return cell if same else None


def _outputs(cell: dict[str, Any] | None) -> list[dict[str, Any]]:
    outputs = (cell or {}).get("outputs")
    return [o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else []


def _data(out: dict[str, Any]) -> dict[str, Any]:
    data = out.get("data")
    return data if isinstance(data, dict) else {}


def ran(cell: dict[str, Any] | None) -> bool:
    """Whether the cell was executed (it has an execution count)."""
    return cell is not None and isinstance(cell.get("execution_count"), int)


def error_output(cell: dict[str, Any] | None) -> dict[str, str] | None:
    """The cell's error, as the report shows it (name, value, traceback without terminal colours)."""
    for out in _outputs(cell):
        if out.get("output_type") == "error":
            lines = out.get("traceback")
            trace = strip_ansi("\n".join(map(str, lines)) if isinstance(lines, list) else str(lines or ""))
            return {"error_name": str(out.get("ename", ""))[:200],
                    "error_value": str(out.get("evalue", ""))[:1000], "traceback": trace[-6000:]}
    return None


def text_output(cell: dict[str, Any] | None) -> str:
    """Everything the cell printed or returned as text."""
    parts = []
    for out in _outputs(cell):
        if out.get("output_type") == "stream":
            parts.append(str(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(str(_data(out).get("text/plain", "")))
    return strip_ansi("\n".join(parts))


def png_output(cell: dict[str, Any] | None) -> bytes | None:
    """The cell's first PNG figure, decoded and checked to be a PNG."""
    for out in _outputs(cell):
        if out.get("output_type") not in ("display_data", "execute_result"):
            continue
        data = _data(out).get("image/png")
        if not isinstance(data, str) or len(data) > MAX_PNG_BYTES * 4 // 3 + 4:
            continue
        try:
            png = base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            continue
        if png.startswith(PNG_MAGIC):
            return png
    return None


def strip_ansi(value: str) -> str:
    return ANSI.sub("", value)
