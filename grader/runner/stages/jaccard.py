"""Jaccard stage: call the student's `JaccardCoeff().forward(a, b)` on each case the parent wrote."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from ..io import StageIO
from ..student import find


def instance(cls: Any) -> Any:
    """One instance to call `.forward` on, as the notebook does.

    The 2019 kit's classes are old-style `torch.autograd.Function` subclasses with an instance `forward`:
    calling the instance raises since torch 1.5 and instantiating warns since 1.9 (a DeprecationWarning
    that says it will raise one day), while `.forward` on an instance still works. So the warning is
    silenced (it must not turn into an error where warnings are errors), and should instantiating ever
    raise, the instance is made without `Function.__init__`, whose only work is that warning. Either way
    the student's own `forward` computes the value that is judged.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return cls()
        except Exception:
            legacy = isinstance(cls, type) and issubclass(cls, torch.autograd.Function)
            if not legacy or "__init__" in vars(cls):
                raise
            return cls.__new__(cls)


def run(io: StageIO, root: Path) -> None:
    cls = None

    def load() -> dict:
        nonlocal cls
        cls = find(root, "JaccardCoeff", ["dice_loss"])
        legacy = isinstance(cls, type) and issubclass(cls, torch.autograd.Function)
        return {"autograd_function": legacy}

    if not io.run_case("load", load):
        return
    for case in io.task["cases"]:
        def one(case: str = case) -> dict:
            a = torch.from_numpy(io.input(f"{case}_input"))
            b = torch.from_numpy(io.input(f"{case}_target"))
            value = instance(cls).forward(a, b)
            arr = io.save(case, value)
            return {"returned": type(value).__name__, "dtype": str(arr.dtype), "shape": list(arr.shape)}

        io.run_case(case, one)
