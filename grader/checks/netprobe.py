"""Judging what the whole-network stages recorded (grader/runner/netcases.py): shapes, depth, skips.

Shared by the UNet_shallow and UNet_add groups. A case records the sizes of the 4-D maps the net made,
its concatenations, and gradients per encoder level; only these are judged, never names or widths.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..messages import Text, text
from ..results import CheckResult
from .base import CheckContext, StageOutputs
from .cases import Verdict, missing_output, student_error

# a skip path whose gradient is this small a share of the level's total is taken for no path at all
SKIP_SHARE = 1e-6


def explain(record: dict[str, Any] | None, out: StageOutputs, case: str, call: str) -> Text:
    """Why a case gave nothing to judge: no record, an exception, or a forward that returned no tensor."""
    if record is None:
        return missing_output(out, case)
    if not record.get("ok"):
        err = record.get("error") or {}
        if err.get("type") == "NotImplementedError":
            return text(f"{call} 还没有实现（仍然 raise NotImplementedError）",
                        f"{call} is not implemented yet (it still raises NotImplementedError)")
        return student_error(record)
    if record.get("returned") == "NoneType":
        return text(f"{call} 返回了 None，而不是张量（忘了 return？）",
                    f"{call} returned None, not a tensor (a missing `return`?)")
    return text(f"{call} 返回了 {record.get('returned')}，而不是张量",
                f"{call} returned a {record.get('returned')}, not a tensor")


def _gave_tensor(record: dict[str, Any] | None) -> bool:
    return record is not None and bool(record.get("ok")) and record.get("returned") == "Tensor"


def failed_all(ctx: CheckContext, ids: list[str], out: StageOutputs, why: Text) -> list[CheckResult]:
    """Every check of a group failed for one reason, e.g. the class could not be built."""
    status = "timeout" if out.state == "timeout" else "error"
    return [CheckResult.make(cid, status, ctx.points(cid), why) for cid in ids]


def build_failure(out: StageOutputs, call: str) -> Text | None:
    """Why the stage could not build the model, or None when it did."""
    record = out.records().get("build")
    if record is not None and record.get("ok"):
        return None
    why = explain(record, out, "build", call)
    return text(f"无法构建 {call}：{why.zh}", f"could not build {call}: {why.en}")


def shape_verdict(case: str, shape: tuple[int, ...], n_classes: int, record: dict | None, out: StageOutputs,
                  call: str) -> Verdict:
    """The logits for an input of `shape` must be (B, n_classes, H, W) and finite."""
    b, _, h, w = shape
    want = (b, n_classes, h, w)
    inputs = {"input_shape": list(shape), "expected_shape": list(want)}
    if not _gave_tensor(record):
        return Verdict(case, False, explain(record, out, case, call), inputs)
    try:
        got = out.array(case, max_elements=4 * int(np.prod(want)) + 64)
    except Exception as exc:  # an unreadable or oversized output: the student's value is unusable
        return Verdict(case, False, text(f"输出无法读取：{exc}", f"output unreadable: {exc}"), inputs)
    inputs["received_shape"] = list(got.shape)
    if got.shape != want:
        why = text(f"输入 {shape} 的输出形状应为 {want}，实际为 {got.shape}",
                   f"for an input of shape {shape} the logits should be {want}, got {got.shape}")
        return Verdict(case, False, why, inputs)
    if not np.isfinite(got).all():
        return Verdict(case, False, text("输出中有 NaN 或 inf", "the logits contain NaN or inf"), inputs)
    return Verdict(case, True, detail=inputs)


def _size_ok(size: Any) -> bool:
    return isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)


def coarsest(sizes: list[Any]) -> tuple[int, int] | None:
    found = [tuple(s) for s in sizes if _size_ok(s)]
    return min(found, key=lambda s: s[0] * s[1]) if found else None


def downsamplings(in_size: tuple[int, int], low: tuple[int, int]) -> int | None:
    """How many times the input was halved to reach `low`; None when that is no whole number of halvings."""
    fh, fw = in_size[0] / low[0], in_size[1] / low[1]
    n = math.log2(fh) if fh >= 1 else -1.0
    return int(round(n)) if n >= 0 and abs(n - round(n)) < 1e-9 and fh == fw else None


def depth_verdict(case: str, in_size: tuple[int, int], record: dict | None, out: StageOutputs, want: int,
                  call: str, full_unet_hint: bool = False) -> Verdict:
    """The coarsest map the net produces must be the input halved exactly `want` times."""
    H, W = in_size
    eh, ew = H >> want, W >> want
    if not _gave_tensor(record):
        return Verdict(case, False, explain(record, out, case, call), {"input_size": [H, W]})
    low = coarsest(record.get("sizes") or [])
    if low is None:
        why = text(f"{call} 运行时没有产生任何特征图", f"{call} produced no feature map")
        return Verdict(case, False, why, {"input_size": [H, W]})
    n = downsamplings(in_size, low)
    detail = {"input_size": [H, W], "coarsest": list(low), "downsamplings": n}
    if n == want:
        return Verdict(case, True, detail=detail)
    found = text(f"输入 {H}x{W} 时最粗的特征图为 {low[0]}x{low[1]}",
                 f"for a {H}x{W} input the coarsest feature map is {low[0]}x{low[1]}")
    if n is None:
        why = text(f"{found.zh}，不是输入减半若干次的尺寸；应下采样 {want} 次（{eh}x{ew}）",
                   f"{found.en}, not the input halved a whole number of times; expected {want} downsamplings "
                   f"({eh}x{ew})")
    else:
        why = text(f"{found.zh}，即下采样了 {n} 次；应恰好下采样 {want} 次（{eh}x{ew}）",
                   f"{found.en}: {n} downsamplings found; {call} should downsample exactly {want} times "
                   f"({eh}x{ew})")
        if full_unet_hint and n == 4:
            why = text(why.zh + "。这是原版 UNet 的深度", why.en + ". That is the full UNet's depth")
    return Verdict(case, False, why, detail)


def skip_verdicts(record: dict | None, out: StageOutputs, call: str) -> list[Verdict]:
    """One verdict per encoder level: its maps must reach the output other than through the coarser levels."""
    if not _gave_tensor(record):
        return [Verdict("skips", False, explain(record, out, "skips", call))]
    levels = [lv for lv in record.get("levels") or []
              if isinstance(lv, dict) and lv.get("layer") is not None and _size_ok(lv.get("size"))]
    if not levels:
        return [Verdict("skips", False, text(f"{call} 没有可检查的编码器层级（没有下采样？）",
                                             f"{call} has no encoder level to examine (no downsampling?)"))]
    verdicts = []
    for lv in levels:
        h, w = lv["size"]
        total, direct = _number(lv.get("total")), _number(lv.get("direct"))
        detail = {"level": [h, w], "total_gradient": total, "skip_gradient": direct}
        name = f"level-{h}x{w}"
        if total <= 0:
            why = text(f"编码器 {h}x{w} 层的特征图对输出没有任何影响",
                       f"the encoder's {h}x{w} maps do not affect the output at all")
            verdicts.append(Verdict(name, False, why, detail))
        elif direct <= SKIP_SHARE * total:
            why = text(f"{h}x{w} 层没有跳跃连接：编码器在这一层的特征图只能经过更粗的层影响输出；"
                       f"请在解码器的同一尺寸处把它拼接（up）或相加（up_add）进来",
                       f"no skip connection at {h}x{w}: the encoder's maps of this size reach the output "
                       f"only through the coarser levels; feed them into the decoder at the same size "
                       f"(concatenate as `up` does, or add as `up_add` does)")
            verdicts.append(Verdict(name, False, why, detail))
        else:
            verdicts.append(Verdict(name, True, detail=detail))
    return verdicts


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0.0
