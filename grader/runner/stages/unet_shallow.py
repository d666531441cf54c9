"""UNet_shallow stage: build `UNet_shallow(1, 2)`, run it on the parent's inputs, record its structure.

Each shape case saves the logits and records the sizes of the maps the net made; the probe case records
how each encoder level reaches the output; the training case saves the output before and after a few
gradient-descent steps.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..io import StageIO
from ..netcases import build_case, shape_case, skip_case
from ..student import find


def run(io: StageIO, root: Path) -> None:
    model = build_case(io, lambda: find(root, "UNet_shallow", ["unet_model"]), (1, 2))
    if model is None:
        return
    for case in io.task["shapes"]:
        io.run_case(case, lambda case=case: shape_case(io, model, case))
    io.run_case("skips", lambda: skip_case(io, model, io.task["probe"]))
    io.run_case("train", lambda: _train(io, model))


def _train(io: StageIO, model: torch.nn.Module) -> dict:
    """Three plain gradient-descent steps on a fixed batch; the parent compares the outputs before and after.

    The update is written out rather than taken from torch.optim, whose first use costs seconds of imports.
    """
    x = torch.from_numpy(io.input("train_x"))
    model.train()
    with torch.no_grad():
        before = model(x)
    if not isinstance(before, torch.Tensor):
        return {"returned": type(before).__name__}
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return {"returned": "Tensor", "parameters": 0}
    io.save("train_before", before)
    target = (torch.rand(before.shape, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    for _ in range(3):
        model.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), target).backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p -= 0.05 * p.grad
    with torch.no_grad():
        after = model(x)
    io.save("train_after", after)
    return {"returned": "Tensor", "parameters": sum(p.numel() for p in params)}
