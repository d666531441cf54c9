"""Which failing notebook cells are the kit's, not the student's: GPU queries, CUDA missing, unchanged cells.

The course's original kit has cells that only ask about the GPU (`torch.cuda.current_device()`,
`torch.cuda.get_device_name(0)`, ...); without CUDA they raise, and the write-up tells students to ignore
that. Such a cell, or any cell that fails only because the grader has no CUDA, is the grader's
environment. A cell whose normalised source is one of our kit's own cells is one the student did not change.
"""

from __future__ import annotations

import ast
import functools
import json
import re

from ..training.kit import REPO_ROOT
from .extract import python_source

KIT_NOTEBOOK = REPO_ROOT / "assignment" / "week-06" / "Assignment.ipynb"
GPU_QUERIES = {"current_device", "device_count", "get_device_name", "set_device", "is_available",
               "get_device_properties", "get_device_capability"}
NO_CUDA = re.compile(r"Torch not compiled with CUDA enabled|No CUDA GPUs are available|Found no NVIDIA driver"
                     r"|CUDA driver initialization failed|no attribute '_cuda_|CUDA is not available", re.IGNORECASE)


def normalise(source: str) -> str:
    """The cell without trailing spaces, blank lines and comment-only lines."""
    lines = (line.rstrip() for line in source.splitlines())
    return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("#"))


@functools.cache
def _kit_sources() -> frozenset[str]:
    """Our kit's code cells, normalised (empty when the kit is not installed beside the grader)."""
    try:
        cells = json.loads(KIT_NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()
    return frozenset(normalise("".join(c.get("source") or [])) for c in cells
                     if isinstance(c, dict) and c.get("cell_type") == "code")


def _is_query(call: ast.Call) -> bool:
    """`torch.cuda.<query>(...)`, or any `<...>.cuda.<query>(...)`."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr in GPU_QUERIES and isinstance(func.value, ast.Attribute)
            and func.value.attr == "cuda")


def is_gpu_query(source: str) -> bool:
    """Whether the cell only asks about the GPU: imports, and query calls (maybe printed or assigned)."""
    text = python_source(source)
    if text is None:
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    queries = 0
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
            continue
        if not isinstance(stmt, (ast.Expr, ast.Assign)):
            return False
        for node in ast.walk(stmt.value):
            if not isinstance(node, ast.Call):
                continue
            if _is_query(node):
                queries += 1
            elif not (isinstance(node.func, ast.Name) and node.func.id == "print"):
                return False
    return queries > 0


def no_cuda_error(name: str, value: str) -> bool:
    """Whether an error says only that there is no CUDA here."""
    return bool(NO_CUDA.search(f"{name}: {value}"))


def kit_cell(source: str) -> str | None:
    """"gpu-query" for a cell that only queries the GPU, "kit" for one of our kit's cells as given, else None."""
    if is_gpu_query(source):
        return "gpu-query"
    return "kit" if normalise(source) in _kit_sources() else None
