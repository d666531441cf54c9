"""deconv2d stage: run the notebook's `deconv2d` (as extracted by the parent) on each case, numpy only.

Before any student code runs, deep-learning frameworks are taken out of sys.modules and a meta-path
finder refuses (and records) every import of them, however it is spelt: `import torch` in the function,
a global imported in another cell, `__import__`, importlib; each case's attempts go in a record of its
own (`<case>/blocked`). The definitions are exec'd in a fresh namespace under their cell's name and line
numbers, so errors point at the student's notebook.
"""

from __future__ import annotations

import builtins
import importlib.abc
import linecache
import sys
from pathlib import Path
from typing import Any

from ..io import StageIO, describe_exception


class _Refuse(importlib.abc.MetaPathFinder):
    """Refuses imports of the blocked packages and remembers each attempt."""

    def __init__(self, blocked: list[str]) -> None:
        self.blocked = set(blocked)
        self.attempts: list[str] = []

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.blocked:
            self.attempts.append(fullname)
            raise ImportError(f"importing {fullname} is not allowed here: deconv2d must use numpy only")
        return None

    def take(self) -> list[str]:
        found, self.attempts = self.attempts, []
        return found


def _block(blocked: list[str]) -> _Refuse:
    for name in list(sys.modules):
        if name.split(".")[0] in blocked:
            del sys.modules[name]
    finder = _Refuse(blocked)
    sys.meta_path.insert(0, finder)
    return finder


def _exec_definitions(io: StageIO, definitions: list[dict[str, Any]], ns: dict[str, Any]) -> list[dict]:
    """Exec each definition in `ns`; the ones that raised, described (the rest still count)."""
    cells: dict[str, list[str]] = {}
    problems = []
    for snip in definitions:
        filename = f"<notebook cell {snip['cell']}>"
        code = "\n" * (int(snip["line"]) - 1) + snip["source"]
        lines = cells.setdefault(filename, [])
        new = code.split("\n")
        lines.extend([""] * (len(new) - len(lines)))
        for i, text in enumerate(new):
            lines[i] = text or lines[i]
        linecache.cache[filename] = (len(code), None, [t + "\n" for t in lines], filename)
        try:
            exec(compile(code, filename, "exec"), ns)
        except Exception as exc:  # noqa: BLE001 - one failing definition must not hide the others
            problems.append({"name": snip["name"], **describe_exception(exc, io.student_root)})
    return problems


def run(io: StageIO, root: Path) -> None:
    guard = _block(io.task["blocked"])
    ns: dict[str, Any] = {"__name__": "__notebook__", "__builtins__": builtins}

    def load() -> dict:
        try:
            problems = _exec_definitions(io, io.task["definitions"], ns)
        finally:
            io.record("load/blocked", blocked=guard.take())
        if not callable(ns.get("deconv2d")):
            raise NameError("deconv2d is not defined after running its notebook cells")
        return {"problems": problems}

    if not io.run_case("load", load):
        return
    for case in io.task["cases"]:
        def one(case: str = case) -> dict:
            try:
                value = ns["deconv2d"](io.input(f"{case}_input"), io.input(f"{case}_weights"))
                arr = io.save(case, value)
            finally:
                io.record(f"{case}/blocked", blocked=guard.take())
            return {"returned": type(value).__name__, "dtype": str(arr.dtype), "shape": list(arr.shape)}

        io.run_case(case, one)
