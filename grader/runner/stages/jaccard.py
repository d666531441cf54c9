"""Jaccard stage: call the student's `JaccardCoeff().forward(a, b)` on each case the parent wrote."""

from __future__ import annotations

from pathlib import Path

import torch

from ..io import StageIO
from ..student import find


def run(io: StageIO, root: Path) -> None:
    cls = None

    def load() -> dict:
        nonlocal cls
        cls = find(root, "JaccardCoeff", ["dice_loss"])
        return {}

    if not io.run_case("load", load):
        return
    for case in io.task["cases"]:
        def one(case: str = case) -> dict:
            a = torch.from_numpy(io.input(f"{case}_input"))
            b = torch.from_numpy(io.input(f"{case}_target"))
            value = cls().forward(a, b)
            arr = io.save(case, value)
            return {"returned": type(value).__name__, "dtype": str(arr.dtype), "shape": list(arr.shape)}

        io.run_case(case, one)
