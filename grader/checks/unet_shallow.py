"""Q6: `UNet_shallow(n_channels, n_classes)`: a UNet that downsamples exactly twice; widths are free.

Judged from behaviour only: the logits' shape on inputs of several sizes, the coarsest map the net
produces (H/4 x W/4), skip paths found by gradients (netprobe), and whether a few gradient-descent steps
change its output.
"""

from __future__ import annotations

import numpy as np

from ..messages import Text, text
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest
from .cases import Verdict, missing_files, subcheck
from .netprobe import build_failure, depth_verdict, explain, failed_all, shape_verdict, skip_verdicts

STAGE = "unet_shallow"
FILES = ["unet/unet_model.py", "unet/unet_parts.py"]
CALL = "UNet_shallow(1, 2)"
PUBLIC_SHAPES = {"shape-32x32": (1, 1, 32, 32), "shape-16x24": (2, 1, 16, 24)}
PROBE = "shape-16x24"
TRAIN_SHAPE = (2, 1, 16, 16)


class UNetShallowGroup(CheckGroup):
    group = "unet_shallow"
    absent: Text | None = None  # what of FILES was not handed in, read before the sandbox runs

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["unet_shallow/output-shape", "unet_shallow/two-downsamplings",
                "unet_shallow/skip-connections", "unet_shallow/trainable"]

    def _shapes(self, ctx: CheckContext) -> dict[str, tuple[int, ...]]:
        rng = ctx.rng(self.group)
        hidden = {}
        for i in range(2):
            shape = (int(rng.integers(1, 3)), 1, 4 * int(rng.integers(2, 7)), 4 * int(rng.integers(2, 7)))
            hidden[f"hidden-{i}-{shape[2]}x{shape[3]}"] = shape
        return {**PUBLIC_SHAPES, **hidden}

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        self.absent = missing_files(ctx.submission_dir, FILES)
        rng = ctx.rng(self.group + "/inputs")
        shapes = self._shapes(ctx)
        for name, shape in shapes.items():
            ctx.save_input(STAGE, name, rng.standard_normal(shape).astype(np.float32))
        ctx.save_input(STAGE, "train_x", rng.standard_normal(TRAIN_SHAPE).astype(np.float32))
        task = {"shapes": list(shapes), "probe": PROBE, "seed": int(rng.integers(2**31))}
        return [StageRequest(name=STAGE, handler="unet_shallow", task=task, timeout_s=120, memory_mb=3072)]

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
        shapes = self._shapes(ctx)
        shape_ok = [shape_verdict(n, s, 2, records.get(n), out, CALL) for n, s in shapes.items()]
        depth = [depth_verdict(n, s[2:], records.get(n), out, 2, CALL, full_unet_hint=True)
                 for n, s in shapes.items()]
        passed = [
            text("各种输入尺寸下都输出 (B, 2, H, W) 的 logits",
                 "logits of shape (B, 2, H, W) for every input size"),
            text("恰好下采样两次：最粗的特征图为 H/4 x W/4",
                 "exactly two downsamplings: the coarsest map is H/4 x W/4"),
            text("每一层编码器的特征图都通过跳跃连接进入解码器",
                 "every encoder level feeds the decoder through a skip connection"),
            text("几步梯度下降之后输出改变：参数可以训练",
                 "a few gradient-descent steps change the output: the parameters train"),
        ]
        verdicts = [shape_ok, depth, skip_verdicts(records.get("skips"), out, CALL),
                    [self._trainable(records.get("train"), out)]]
        return [subcheck(cid, ctx.points(cid), v, ok)
                for cid, v, ok in zip(ids, verdicts, passed, strict=True)]

    def _trainable(self, record: dict | None, out: StageOutputs) -> Verdict:
        if record is None or not record.get("ok") or record.get("returned") != "Tensor":
            return Verdict("train", False, explain(record, out, "train", CALL))
        if record.get("parameters") == 0:
            return Verdict("train", False, text(
                "UNet_shallow 没有可训练的参数：层是否放在普通的 list 或 dict 里？请用属性或 nn.ModuleList",
                "UNet_shallow has no trainable parameters: are its layers kept in a plain list or dict? "
                "Assign them as attributes or use nn.ModuleList"))
        try:
            before = out.array("train_before", max_elements=10**6)
            after = out.array("train_after", max_elements=10**6)
        except Exception as exc:  # an unreadable or oversized output: the student's value is unusable
            return Verdict("train", False, text(f"输出无法读取：{exc}", f"output unreadable: {exc}"))
        if before.shape != after.shape or not (np.isfinite(before).all() and np.isfinite(after).all()):
            return Verdict("train", False, text(
                "训练前后的输出形状不同或含 NaN/inf",
                "the outputs before and after training differ in shape or contain NaN/inf"))
        change = float(np.abs(after.astype(np.float64) - before).max())
        detail = {"max_output_change": change, "parameters": record.get("parameters")}
        if change <= 1e-6 * max(1.0, float(np.abs(before).max())):
            return Verdict("train", False, text(
                "三步梯度下降之后输出没有变化：forward 是否真的用到了已注册的层？",
                "three gradient-descent steps did not change the output: does forward use the registered "
                "layers?"), detail)
        return Verdict("train", True, detail=detail)
