"""`UNet_add(n_channels, n_classes)`: UNet's encoder, a decoder that ADDS the skip maps (up_add blocks).

Judged from behaviour: the logits' shape on inputs of several sizes; four downsamplings; at every encoder
level a skip path (found by gradients, netprobe) and no concatenation of maps, which is what `up` does.
"""

from __future__ import annotations

import numpy as np

from ..messages import Text, text
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest
from .cases import Verdict, missing_files, subcheck
from .netprobe import build_failure, depth_verdict, failed_all, shape_verdict, skip_verdicts

STAGE = "unet_add"
FILES = ["unet/unet_model.py", "unet/unet_parts.py"]
CALL = "UNet_add(1, 2)"
PUBLIC_SHAPES = {"shape-16x16": (1, 1, 16, 16), "shape-32x16": (1, 1, 32, 16)}
PROBE = "shape-16x16"


def _no_concat(verdict: Verdict, joins: list) -> Verdict:
    """A level whose skip is concatenated fails, however well the skip path itself works."""
    size = verdict.detail.get("level")
    found = [j for j in joins if isinstance(j, dict) and j.get("size") == size]
    if size is None or not found:
        return verdict
    parts = " + ".join(str(c) for c in found[0].get("channels", []))
    why = text(f"解码器在 {size[0]}x{size[1]} 处把特征图拼接起来（{parts} 个通道）：UNet_add 的解码器"
               f"应当用 up_add 把跳跃连接相加，而不是像 up 那样拼接",
               f"the decoder concatenates maps at {size[0]}x{size[1]} ({parts} channels): UNet_add's decoder "
               f"must add the skip map (up_add), not concatenate it as `up` does")
    return Verdict(verdict.name, False, why, {**verdict.detail, "concatenations": found})


class UNetAddGroup(CheckGroup):
    group = "unet_add"
    absent: Text | None = None  # what of FILES was not handed in, read before the sandbox runs

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["unet_add/output-shape", "unet_add/structure"]

    def _shapes(self, ctx: CheckContext) -> dict[str, tuple[int, ...]]:
        rng = ctx.rng(self.group)
        shape = (int(rng.integers(1, 3)), 1, 16 * int(rng.integers(1, 3)), 16 * int(rng.integers(1, 4)))
        return {**PUBLIC_SHAPES, f"hidden-{shape[2]}x{shape[3]}": shape}

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        self.absent = missing_files(ctx.submission_dir, FILES)
        rng = ctx.rng(self.group + "/inputs")
        shapes = self._shapes(ctx)
        for name, shape in shapes.items():
            ctx.save_input(STAGE, name, rng.standard_normal(shape).astype(np.float32))
        task = {"shapes": list(shapes), "probe": PROBE, "seed": int(rng.integers(2**31))}
        return [StageRequest(name=STAGE, handler="unet_add", task=task, timeout_s=120, memory_mb=3072)]

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        out = outputs[STAGE]
        ids = self.check_ids(ctx)
        why = build_failure(out, CALL)
        if why is not None and self.absent is not None:
            return self.missing(ctx, text(f"无法构建 {CALL}：{self.absent.zh}",
                                          f"could not build {CALL}: {self.absent.en}"))
        if why is not None:
            return failed_all(ctx, ids, out, why)
        records = out.records()
        shape_ok = [shape_verdict(n, s, 2, records.get(n), out, CALL) for n, s in self._shapes(ctx).items()]
        probe = records.get("skips")
        structure = [depth_verdict("depth", PUBLIC_SHAPES[PROBE][2:], probe, out, 4, CALL)]
        joins = (probe or {}).get("joins") or []
        structure += [_no_concat(v, joins) for v in skip_verdicts(probe, out, CALL)]
        return [
            subcheck(ids[0], ctx.points(ids[0]), shape_ok, text(
                "各种输入尺寸下都输出 (B, 2, H, W) 的 logits",
                "logits of shape (B, 2, H, W) for every input size")),
            subcheck(ids[1], ctx.points(ids[1]), structure, text(
                "UNet 的编码器（下采样四次），解码器在每一层把跳跃连接相加",
                "UNet's encoder (four downsamplings) and a decoder that adds the skip map at every level")),
        ]
