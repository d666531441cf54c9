"""up_add stage: build `up_add(in_ch, out_ch)` per case, run `forward(x1, x2)` in eval mode.

Each case saves the output and, for every convolution and batch norm that ran (in order), its weights
and statistics, so the parent can recompute what `double_conv(x2 + upsampled x1)` should have given.
Batch-norm statistics are randomised first, so that a wrong order or a skipped layer shows.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import StageIO
from ..student import find

WATCHED = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)


def run(io: StageIO, root: Path) -> None:
    cls = None

    def load() -> dict:
        nonlocal cls
        cls = find(root, "up_add", ["unet_parts", "unet_model"])
        return {}

    if not io.run_case("load", load):
        return
    for case in io.task["cases"]:
        built: list[nn.Module] = []
        if io.run_case(f"{case['name']}/build", lambda case=case, built=built: _build(cls, case, built)):
            io.run_case(case["name"], lambda case=case, built=built: _forward(io, built[0], case["name"]))


def _registered(module: nn.Module) -> list[dict[str, Any]]:
    """The convolutions the module built, in the order it registered them: explains a failed forward."""
    return [{"kind": type(m).__name__, "in_channels": m.in_channels, "out_channels": m.out_channels}
            for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _randomise_norms(module: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None:
                n = m.running_mean.numel()
                m.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                if m.weight is not None:
                    m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                    m.bias.copy_(0.3 * torch.randn(n, generator=gen))


def _build(cls: Any, case: dict, built: list[nn.Module]) -> dict:
    """Record case `<name>/build`: the convolutions the module registered, kept even if forward fails."""
    torch.manual_seed(int(case["seed"]))
    module = cls(case["in_ch"], case["out_ch"])
    _randomise_norms(module, int(case["seed"]))
    module.eval()
    built.append(module)
    return {"registered": _registered(module)}


def _forward(io: StageIO, module: nn.Module, name: str) -> dict:
    ran: list[nn.Module] = []
    with ExitStack() as stack, torch.no_grad():
        for m in module.modules():
            if isinstance(m, WATCHED):
                stack.callback(m.register_forward_hook(lambda mod, args, out: ran.append(mod)).remove)
        out = module(torch.from_numpy(io.input(f"{name}_x1")), torch.from_numpy(io.input(f"{name}_x2")))
    if not isinstance(out, torch.Tensor):
        return {"returned": type(out).__name__}
    io.save(name, out)
    layers = []
    for i, m in enumerate(ran):
        arrays = {"weight": m.weight, "bias": m.bias}
        layer: dict[str, Any] = {"kind": type(m).__name__}
        if isinstance(m, nn.BatchNorm2d):
            layer["eps"] = float(m.eps)
            arrays.update(running_mean=m.running_mean, running_var=m.running_var)
        layer["arrays"] = {k: list(v.shape) for k, v in arrays.items() if v is not None}
        for key in layer["arrays"]:
            io.save(f"{name}_layer{i}_{key}", arrays[key])
        layers.append(layer)
    return {"returned": "Tensor", "layers": layers}
