"""Watch a network run: the maps its operations produce, and which encoder maps reach the output directly.

The UNet stages use these to record raw facts (sizes, channels, gradients); the parent decides what they
mean. A torch function mode sees every operation, whether it runs inside an nn.Module, a functional call
in `forward`, or a layer the student forgot to register; nothing depends on layer names or widths.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

# torch functions that join feature maps along an axis: how a decoder concatenates a skip map
JOINS = {"cat", "concat", "concatenate", "hstack"}
# operations with learned weights: the first one at a size is where an encoder level starts
LEARNED = {"conv2d", "conv_transpose2d"}


class _Watch(TorchFunctionMode):
    """Number every operation that yields a 4-D float map; record it, perturb some, or cut below a size.

    Two passes over the same input number the operations alike, so a record's index names the same map.
    With `cut_area`, every such map smaller than that many pixels is detached: no gradient crosses the
    coarser levels. For each index in `perturb`, a zero tensor that requires grad is added to that map.
    """

    def __init__(self, cut_area: int | None = None, perturb: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.cut_area, self.perturb = cut_area, perturb
        self.calls: list[dict[str, Any]] = []
        self.joins: list[dict[str, Any]] = []
        self.deltas: dict[int, torch.Tensor] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not (isinstance(out, torch.Tensor) and out.dim() == 4 and out.is_floating_point()):
            return out
        name = getattr(func, "__name__", "")
        index = len(self.calls)
        self.calls.append({"index": index, "op": name, "learned": name in LEARNED,
                           "channels": int(out.shape[1]), "size": [int(out.shape[2]), int(out.shape[3])]})
        if name in JOINS:
            maps = [t for t in (args[0] if args else ()) if isinstance(t, torch.Tensor) and t.dim() == 4]
            if len(maps) >= 2:
                self.joins.append({"size": [int(out.shape[2]), int(out.shape[3])],
                                   "channels": [int(t.shape[1]) for t in maps]})
        if self.cut_area is not None and out.shape[2] * out.shape[3] < self.cut_area:
            out = out.detach().clone()
        if index in self.perturb:
            self.deltas[index] = torch.zeros_like(out, requires_grad=True)
            out = out + self.deltas[index]
        return out


def trace(model: nn.Module, *inputs: torch.Tensor) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run `model(*inputs)`; return its output, one record per 4-D map produced, and the concatenations."""
    watch = _Watch()
    with watch:
        out = model(*inputs)
    return out, watch.calls, watch.joins


def _reach(model: nn.Module, x: torch.Tensor, weight: torch.Tensor, at: tuple[int, ...], cut_area: int | None
           ) -> list[float]:
    """Largest |d sum(weight * model(x)) / d map| for each map numbered in `at`, maps below `cut_area` cut."""
    watch = _Watch(cut_area=cut_area, perturb=at)
    with watch:
        out = model(x)
    if not watch.deltas or not isinstance(out, torch.Tensor) or out.shape != weight.shape:
        return [0.0] * len(at)
    found = [i for i in at if i in watch.deltas]
    grads = torch.autograd.grad((out * weight).sum(), [watch.deltas[i] for i in found], allow_unused=True)
    norms = {i: 0.0 if g is None else float(g.abs().max()) for i, g in zip(found, grads, strict=True)}
    return [norms.get(i, 0.0) for i in at]


def skip_reach(model: nn.Module, x: torch.Tensor, calls: list[dict[str, Any]], out_shape: torch.Size
               ) -> list[dict[str, Any]]:
    """For each size finer than the coarsest: how strongly its first encoder convolution reaches the output.

    `layer` is that convolution's index (None when the encoder has none of this size). `total` is the
    gradient with every path open, `direct` with all coarser maps detached, i.e. through skip connections
    only: a plain encoder-decoder gives `direct` == 0.
    """
    area = [c["size"][0] * c["size"][1] for c in calls]
    first_coarse = area.index(min(area))
    weight = torch.randn(out_shape, generator=torch.Generator().manual_seed(0))
    levels = []
    for size in sorted({tuple(c["size"]) for c in calls}, key=lambda s: -s[0] * s[1]):
        if size[0] * size[1] > min(area):
            encoder = (c["index"] for c in calls[:first_coarse] if tuple(c["size"]) == size and c["learned"])
            at = next(encoder, None)
            levels.append({"size": list(size), "layer": at})
    probed = [lv for lv in levels if lv["layer"] is not None]
    totals = _reach(model, x, weight, tuple(lv["layer"] for lv in probed), None)
    for lv, total in zip(probed, totals, strict=True):
        lv["total"] = total
        lv["direct"] = _reach(model, x, weight, (lv["layer"],), lv["size"][0] * lv["size"][1])[0]
    return levels
