"""UNet_add stage: build `UNet_add(1, 2)`, run it on the parent's inputs, record its structure.

Each shape case saves the logits; the probe case records the maps the net made, the concatenations it
did, and how each encoder level reaches the output.
"""

from __future__ import annotations

from pathlib import Path

from ..io import StageIO
from ..netcases import build_case, shape_case, skip_case
from ..student import find


def run(io: StageIO, root: Path) -> None:
    model = build_case(io, lambda: find(root, "UNet_add", ["unet_model"]), (1, 2))
    if model is None:
        return
    for case in io.task["shapes"]:
        io.run_case(case, lambda case=case: shape_case(io, model, case))
    io.run_case("skips", lambda: skip_case(io, model, io.task["probe"]))
