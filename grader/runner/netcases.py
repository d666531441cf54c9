"""The cases that every whole-network stage runs: build the net, run it on inputs, probe its skips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .io import StageIO
from .probe import skip_reach, trace

# a net that runs thousands of operations must not flood the records the parent reads
MAX_ITEMS = 64


def build_case(io: StageIO, load: Callable[[], Any], args: tuple) -> nn.Module | None:
    """Record case `build`: load the class and instantiate it with a fixed seed; the model, or None."""
    built: list[nn.Module] = []

    def build() -> dict:
        cls = load()
        torch.manual_seed(int(io.task["seed"]))
        model = cls(*args)
        if not isinstance(model, nn.Module):
            name = getattr(cls, "__name__", cls)
            raise TypeError(f"{name}{args} is a {type(model).__name__}, not an nn.Module")
        built.append(model)
        return {"parameters": sum(p.numel() for p in model.parameters())}

    return built[0] if io.run_case("build", build) else None


def _summary(out: object, calls: list[dict], joins: list[dict]) -> dict:
    """What the parent judges, kept small however many operations the net runs."""
    sizes = sorted({tuple(c["size"]) for c in calls}, key=lambda s: (s[0] * s[1], s))  # coarsest first
    return {"returned": type(out).__name__, "sizes": [list(s) for s in sizes[:MAX_ITEMS]],
            "joins": joins[:MAX_ITEMS]}


def shape_case(io: StageIO, model: nn.Module, case: str) -> dict:
    """Run the model in eval mode on input `case`; save the output, record the sizes of the maps it made."""
    x = torch.from_numpy(io.input(case))
    model.eval()
    with torch.no_grad():
        out, calls, joins = trace(model, x)
    if isinstance(out, torch.Tensor):
        io.save(case, out)
    return _summary(out, calls, joins)


def skip_case(io: StageIO, model: nn.Module, probe: str) -> dict:
    """Record the maps of input `probe` and how each encoder level reaches the output (probe.skip_reach)."""
    x = torch.from_numpy(io.input(probe))
    model.eval()
    with torch.no_grad():
        out, calls, joins = trace(model, x)
    levels = skip_reach(model, x, calls, out.shape) if isinstance(out, torch.Tensor) and calls else []
    return {**_summary(out, calls, joins), "levels": levels[:MAX_ITEMS]}
