"""`up_add(in_ch, out_ch, bilinear=True)`: upsample the deeper map x1, ADD the skip map x2, double_conv.

The cases stay inside the lab's contract: bilinear upsampling (every network of the lab uses it) and a
skip map exactly twice x1's size (every level of a power-of-two image, the only images the lab supports).
Outside it the kits differ and both are correct for the lab: on odd sizes ours pads x1 to x2 while the
course's 2019 kit crops x2 to the upsampled x1, and the 2019 kit's `bilinear=False` branch, which students
copy from `up`, builds its transposed convolution for half the channels up_add gets.

The stage runs the student's module in eval mode and returns its output with the weights and batch-norm
statistics of the layers that ran. Here the parent recomputes double_conv(x2 + up(x1)) with torch's
functional ops from those weights and compares; when it differs, the usual mistakes (concatenating,
dropping a map, subtracting) are recomputed too, so the message can name the one the student made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..messages import Text, text
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest
from .cases import Verdict, missing_files, subcheck
from .compare import compare
from .netprobe import explain, failed_all

STAGE = "up_add"
PARAMETERS = ("weight", "bias", "running_mean", "running_var")
FILES = ["unet/unet_parts.py"]


@dataclass(frozen=True)
class Case:
    name: str
    in_ch: int
    out_ch: int
    x1: tuple[int, int, int, int]

    @property
    def call(self) -> str:
        return f"up_add({self.in_ch}, {self.out_ch})"

    @property
    def x2_size(self) -> tuple[int, int]:
        return (2 * self.x1[2], 2 * self.x1[3])

    @property
    def x2(self) -> tuple[int, int, int, int]:
        return (self.x1[0], self.in_ch, *self.x2_size)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.x1[0], self.out_ch, *self.x2_size)


PUBLIC = [Case("add-4to2", 4, 2, (1, 4, 4, 4)), Case("add-3to5", 3, 5, (2, 3, 2, 4))]
SIDES = (1, 2, 4, 8)  # x1's sides: the deeper maps of power-of-two images, non-square too


def _hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for i in range(4):
        c, o, b = (int(v) for v in (rng.integers(2, 9), rng.integers(1, 9), rng.integers(1, 3)))
        h, w = (int(v) for v in rng.choice(SIDES, size=2))
        cases.append(Case(f"hidden-{i}", c, o, (b, c, h, w)))
    return cases


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch single-threaded: on these tiny tensors, waking a thread pool costs 30x the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _t(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(arr, dtype=np.float64))


def _upsampled(x1: torch.Tensor) -> list[torch.Tensor]:
    """x1 upsampled x2: the lab's way first (bilinear, align_corners=True), then other interpolations."""
    found = []
    for mode, corners in (("bilinear", True), ("bilinear", False), ("nearest", None)):
        kw = {} if corners is None else {"align_corners": corners}
        found.append(F.interpolate(x1, scale_factor=2, mode=mode, **kw))
    return found


class _DoubleConv:
    """double_conv rebuilt from the weights the student's module used: (conv 3x3 -> BN -> ReLU) x 2."""

    def __init__(self, convs: list[dict[str, torch.Tensor]], norms: list[dict[str, Any]]):
        self.convs, self.norms = convs, norms

    @property
    def in_channels(self) -> int:
        return int(self.convs[0]["weight"].shape[1])

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        for conv, bn in zip(self.convs, self.norms, strict=True):
            z = F.conv2d(z, conv["weight"], conv.get("bias"), padding=1)
            z = F.batch_norm(z, bn["running_mean"], bn["running_var"], bn.get("weight"), bn.get("bias"),
                             training=False, eps=bn["eps"])
            z = F.relu(z)
        return z


MISTAKES = {
    "concat": text("把 x2 与上采样后的 x1 拼接（torch.cat）了：这是 up 的做法；up_add 应把两者相加",
                   "it concatenates x2 and the upsampled x1 (torch.cat), as `up` does; up_add must add them"),
    "subtract": text("把两者相减了：应为 x2 + x1（相加）",
                     "it subtracts one map from the other: it should add them (x2 + x1)"),
    "no-skip": text("丢掉了跳跃连接 x2：输出只由上采样后的 x1 算出",
                    "it drops the skip map x2: the output comes from the upsampled x1 alone"),
    "no-deep": text("丢掉了深层特征图 x1：输出只由 x2 算出",
                    "it drops the deeper map x1: the output comes from x2 alone"),
}


def _doubled(c: int) -> Text:
    return text(f"double_conv 按 2*in_ch = {2 * c} 个通道构建（up 拼接后的通道数）；"
                f"相加不改变通道数，应为 in_ch = {c}",
                f"its double_conv takes 2*in_ch = {2 * c} channels, the concatenated count of `up`; "
                f"adding keeps in_ch = {c} channels")


class UpAddGroup(CheckGroup):
    group = "up_add"
    absent: Text | None = None  # what of FILES was not handed in, read before the sandbox runs

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["up_add/channels", "up_add/adds-skip"]

    def _cases(self, ctx: CheckContext) -> list[Case]:
        return PUBLIC + _hidden(ctx.rng(self.group))

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        self.absent = missing_files(ctx.submission_dir, FILES)
        rng = ctx.rng(self.group + "/inputs")
        cases = []
        for case in self._cases(ctx):
            ctx.save_input(STAGE, f"{case.name}_x1", rng.standard_normal(case.x1).astype(np.float32))
            ctx.save_input(STAGE, f"{case.name}_x2", rng.standard_normal(case.x2).astype(np.float32))
            cases.append({"name": case.name, "in_ch": case.in_ch, "out_ch": case.out_ch,
                          "seed": int(rng.integers(2**31))})
        return [StageRequest(name=STAGE, handler="up_add", task={"cases": cases}, timeout_s=60,
                             memory_mb=2048)]

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        out = outputs[STAGE]
        ids = self.check_ids(ctx)
        records = out.records()
        load = records.get("load")
        if load is None or not load.get("ok"):
            if self.absent is not None:
                return self.missing(ctx, text(f"无法载入 up_add：{self.absent.zh}",
                                              f"could not load up_add: {self.absent.en}"))
            why = explain(load, out, "load", "up_add")
            return failed_all(ctx, ids, out, text(f"无法从 unet/unet_parts.py 载入 up_add：{why.zh}",
                                                  f"could not load up_add from unet/unet_parts.py: {why.en}"))
        cases = self._cases(ctx)
        channels = [self._channels(c, records, out) for c in cases]
        with _one_thread():
            values = [self._adds(ctx, c, records, out) for c in cases]
        return [
            subcheck(ids[0], ctx.points(ids[0]), channels, text(
                "double_conv 接收 in_ch 个通道，输出形状正确",
                "double_conv takes in_ch channels and the output has the right shape")),
            subcheck(ids[1], ctx.points(ids[1]), values, text(
                "输出等于 double_conv(x2 + 上采样后的 x1)",
                "the output equals double_conv(x2 + upsampled x1)")),
        ]

    def _ran(self, case: Case, records: dict, out: StageOutputs) -> Verdict | None:
        """A failing verdict when the case did not give a tensor of the right shape, else None."""
        built, record = records.get(f"{case.name}/build"), records.get(case.name)
        detail: dict[str, Any] = {"call": case.call, "x1": list(case.x1), "x2": list(case.x2)}
        if built is None or not built.get("ok"):
            return Verdict(case.name, False, explain(built, out, case.name, case.call), detail)
        if record is None or not record.get("ok") or record.get("returned") != "Tensor":
            why = explain(record, out, case.name, case.call)
            hint = self._hint(case, built.get("registered") or [])
            if hint is not None:
                why = text(f"{why.zh}。{hint.zh}", f"{why.en}. {hint.en}")
            return Verdict(case.name, False, why, detail)
        try:
            got = out.array(case.name, max_elements=4 * int(np.prod(case.out_shape)) + 64)
        except Exception as exc:  # an unreadable or oversized output: the student's value is unusable
            why = text(f"输出无法读取：{exc}", f"output unreadable: {exc}")
            return Verdict(case.name, False, why, detail)
        if got.shape != case.out_shape:
            why = text(f"x1 {case.x1}、x2 {case.x2} 时输出形状应为 {case.out_shape}，实际为 {got.shape}",
                       f"for x1 {case.x1} and x2 {case.x2} the output should be {case.out_shape}, "
                       f"got {got.shape}")
            return Verdict(case.name, False, why, detail)
        return None

    @staticmethod
    def _hint(case: Case, registered: list) -> Text | None:
        """What the convolutions the module built say about a forward that raised."""
        plain = [r for r in registered if isinstance(r, dict) and r.get("kind") == "Conv2d"]
        c = case.in_ch
        if plain and plain[0].get("in_channels") == 2 * c:
            return _doubled(c)
        return None

    def _channels(self, case: Case, records: dict, out: StageOutputs) -> Verdict:
        failed = self._ran(case, records, out)
        if failed is not None:
            return failed
        detail = {"call": case.call}
        convs = [lay["arrays"] for lay in records[case.name].get("layers") or []
                 if isinstance(lay, dict) and lay.get("kind") == "Conv2d"
                 and isinstance(lay.get("arrays"), dict)]
        shape = convs[0].get("weight") if convs else None
        if not (isinstance(shape, list) and len(shape) == 4):
            why = text("没有找到 double_conv 运行过的卷积层", "found no convolution that double_conv ran")
            return Verdict(case.name, False, why, detail)
        got, c = shape[1], case.in_ch
        detail["first_conv_in_channels"] = got
        if got == c:
            return Verdict(case.name, True, detail=detail)
        if got == 2 * c:
            return Verdict(case.name, False, _doubled(c), detail)
        why = text(f"double_conv 的第一个卷积接收 {got} 个通道，应为 in_ch = {c}",
                   f"double_conv's first convolution takes {got} channels; it should take in_ch = {c}")
        return Verdict(case.name, False, why, detail)

    @staticmethod
    def _weights(case: Case, record: dict, out: StageOutputs) -> _DoubleConv | None:
        """The first two convolutions and batch norms that ran, as the parent's own tensors."""
        convs, norms = [], []
        for i, layer in enumerate(record.get("layers") or []):
            if not isinstance(layer, dict) or not isinstance(layer.get("arrays"), dict):
                return None
            if layer.get("kind") not in ("Conv2d", "BatchNorm2d"):
                continue
            arrays = {k: _t(out.array(f"{case.name}_layer{i}_{k}", shape=tuple(v), max_elements=10**6))
                      for k, v in layer["arrays"].items() if k in PARAMETERS}
            if layer["kind"] == "Conv2d":
                convs.append(arrays)
            else:
                norms.append({**arrays, "eps": float(layer.get("eps", 1e-5))})
        convs, norms = convs[:2], norms[:2]
        if len(convs) < 2 or len(norms) < 2 or any(tuple(c["weight"].shape[2:]) != (3, 3) for c in convs) \
                or any("running_mean" not in n or "running_var" not in n for n in norms):
            return None
        return _DoubleConv(convs, norms)

    def _adds(self, ctx: CheckContext, case: Case, records: dict, out: StageOutputs) -> Verdict:
        failed = self._ran(case, records, out)
        if failed is not None:
            return failed
        detail: dict[str, Any] = {"call": case.call, "x1": list(case.x1), "x2": list(case.x2)}
        try:
            dc = self._weights(case, records[case.name], out)
        except Exception as exc:  # weights missing or not of the shapes the child announced
            why = text(f"权重无法读取：{exc}", f"weights unreadable: {exc}")
            return Verdict(case.name, False, why, detail)
        if dc is None:
            why = text("在 up_add 运行过的层中没有找到 double_conv 的两个 3x3 卷积和两个 BatchNorm",
                       "could not find double_conv's two 3x3 convolutions and two batch norms among the "
                       "layers up_add ran")
            return Verdict(case.name, False, why, detail)
        inputs = ctx.stage_inputs(STAGE)
        x1 = _t(np.load(inputs / f"{case.name}_x1.npy", allow_pickle=False))
        x2 = _t(np.load(inputs / f"{case.name}_x2.npy", allow_pickle=False))
        got = out.array(case.name).astype(np.float64)
        ups = _upsampled(x1)
        if dc.in_channels == case.in_ch:
            for up in ups:
                comparison = _match(dc(x2 + up), got)
                if comparison["match"]:
                    return Verdict(case.name, True, detail={**detail, "comparison": comparison})
        for mistake, outputs in _mistakes(dc, case, x1, x2, ups):
            if any(_match(o, got)["match"] for o in outputs):
                return Verdict(case.name, False, MISTAKES[mistake], detail)
        if dc.in_channels != case.in_ch:
            why = text(f"double_conv 的第一个卷积接收 {dc.in_channels} 个通道，"
                       f"无法作用于 x2 + x1（{case.in_ch} 个通道）",
                       f"double_conv's first convolution takes {dc.in_channels} channels, so it cannot run "
                       f"on x2 + x1 ({case.in_ch} channels)")
            return Verdict(case.name, False, why, detail)
        comparison = _match(dc(x2 + ups[0]), got)
        why = text(f"输出与 double_conv(x2 + 上采样后的 x1) 不同（最大差 {comparison['max_abs_diff']:.3g}）",
                   f"the output differs from double_conv(x2 + upsampled x1) (max difference "
                   f"{comparison['max_abs_diff']:.3g})")
        return Verdict(case.name, False, why, {**detail, "comparison": comparison})


def _match(expected: torch.Tensor, got: np.ndarray) -> dict[str, Any]:
    return compare(expected.numpy(), got, rtol=1e-4, atol=1e-4)


def _mistakes(dc: _DoubleConv, case: Case, x1: torch.Tensor, x2: torch.Tensor, ups: list[torch.Tensor]):
    """(mistake, what it would output) for each mistake that fits the convolution's channel count."""
    if dc.in_channels == 2 * case.in_ch:
        yield "concat", [dc(torch.cat(pair, dim=1)) for up in ups for pair in ((x2, up), (up, x2))]
    if dc.in_channels == case.in_ch:
        yield "subtract", [dc(a - b) for up in ups for a, b in ((x2, up), (up, x2))]
        yield "no-skip", [dc(up) for up in ups]
        yield "no-deep", [dc(x2)]
