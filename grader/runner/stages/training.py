"""Training stage: train one of the student's networks with the grader's loop on the kit's generator.

The loop is the lab's: BCE on sigmoid(logits) against the one-hot labels, SGD with momentum and weight
decay. The generator is the grader's copy of the kit's `image_gen.py` (its source is in the task), run
under a private module name, so the student's `image_utils` plays no part. The held-out images come from
the parent, which keeps their labels and the key they were drawn with; this stage only returns the
network's logits for them. Its own draws use the seeds in the task, derived one-way from the run's seed.
"""

from __future__ import annotations

import math
import platform
import time
import types
from pathlib import Path

import numpy as np
import torch

from ..io import StageIO
from ..student import find

PROGRESS_EVERY_S = 5.0


def _providers(task: dict) -> tuple:
    """Two generators from the kit's module: one for training, one for BatchNorm statistics."""
    module = types.ModuleType("_grader_kit_image_gen")
    exec(compile(task["generator"], "<grader kit image_gen.py>", "exec"), module.__dict__)
    return tuple(module.GrayScaleDataProvider(task["size"], task["size"], cnt=task["cnt"], sigma=task["sigma"],
                                              rng=np.random.default_rng(task[seed]))
                 for seed in ("data_seed", "batchnorm_seed"))


def _nchw(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)).to(device)


def _check_output(out, expected: tuple[int, ...]) -> None:
    """Say plainly what is wrong with a forward pass before the loss hides it in a shape error."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"forward returned {type(out).__name__}, expected a tensor of logits {expected}")
    if tuple(out.shape) != expected:
        raise ValueError(f"forward returned shape {tuple(out.shape)}, expected {expected} "
                         f"(batch x 2 channels x height x width)")
    if not torch.isfinite(out).all():
        raise FloatingPointError("the network's output contains NaN or infinity")


def _train(net: torch.nn.Module, task: dict, provider, device: torch.device, io: StageIO) -> list[float]:
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError("the network has no trainable parameters")
    optimizer = torch.optim.SGD(params, lr=task["lr"], momentum=task["momentum"],
                                weight_decay=task["weight_decay"])
    criterion = torch.nn.BCELoss()
    losses: list[float] = []
    last_note = time.monotonic()
    net.train()
    for step in range(task["steps"]):
        images, labels = provider(task["batch"])
        x, y = _nchw(images, device), _nchw(labels, device)
        out = net(x)
        _check_output(out, tuple(y.shape))
        if not out.requires_grad:
            raise RuntimeError("the output does not depend on any trainable parameter: is part of forward "
                               "detached, or run under torch.no_grad()?")
        loss = criterion(torch.sigmoid(out).reshape(-1), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        if step == 0 and all(p.grad is None for p in params):
            raise RuntimeError("no parameter received a gradient: the loss does not reach the weights")
        optimizer.step()
        losses.append(loss.item())
        if time.monotonic() - last_note > PROGRESS_EVERY_S:
            io.record("progress", step=step + 1, steps=task["steps"], loss=losses[-1])
            last_note = time.monotonic()
    return losses


def _recalibrate_batchnorm(net: torch.nn.Module, provider, task: dict, device: torch.device) -> None:
    """Re-estimate BatchNorm's running statistics for the final weights, on fresh training images.

    After only tens of steps the running averages still lag the weights (at 32 x 32 and 20 steps we
    measured eval-mode Dice from 0.0 to 0.78 against 0.84 to 0.92 with the statistics re-estimated), so
    the prediction would measure that lag rather than what the network learned.
    """
    batch = task["batch"]
    count = math.ceil(task["batchnorm_images"] / batch)
    batches = [_nchw(provider(batch)[0], device) for _ in range(count)]
    with torch.no_grad():
        torch.optim.swa_utils.update_bn(batches, net)


def _predict(net: torch.nn.Module, images: np.ndarray, batch: int, device: torch.device) -> torch.Tensor:
    net.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start:start + batch]).to(device)
            out = net(x)
            _check_output(out, (len(x), 2, *x.shape[2:]))
            chunks.append(out.float().cpu())
    return torch.cat(chunks)


def run(io: StageIO, root: Path) -> None:
    task = io.task
    device = torch.device(task["device"])
    net = None

    def load() -> dict:
        nonlocal net
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("the grader asked for a CUDA device, but torch sees none in the sandbox")
        cls = find(root, task["class"], ["unet_model"])
        torch.manual_seed(task["init_seed"])
        net = cls(1, 2).to(device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
        return {"parameters": sum(p.numel() for p in net.parameters()), "device": str(device),
                "device_name": name, "torch": torch.__version__}

    if not io.run_case("load", load):
        return

    def train() -> dict:
        training, batchnorm = _providers(task)
        losses = _train(net, task, training, device, io)
        _recalibrate_batchnorm(net, batchnorm, task, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        io.save("loss", np.asarray(losses, dtype=np.float64))
        return {"steps": len(losses)}

    if not io.run_case("train", train):
        return

    def predict() -> dict:
        logits = _predict(net, io.input("held_out"), task["batch"], device)
        io.save("logits", logits)
        return {"shape": list(logits.shape)}

    io.run_case("predict", predict)
