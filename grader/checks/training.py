"""Training: each of the student's networks, trained by the grader's own loop, learns to segment discs.

One sandbox stage per network (a crash, timeout or out-of-memory costs only that network). The stage
trains on the kit's generator and returns logits for held-out images that the parent drew from a key only
it knows (grader/training/keys.py); the parent keeps their labels in memory, computes the foreground Dice
itself and compares it with the pass mark calibrated on the reference solution for this profile
(grader/training/thresholds.json). No stage's task carries the run's seed: only seeds derived one-way from it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..messages import Text, text
from ..results import CheckResult
from ..training import thresholds
from ..training.evaluate import (
    all_foreground_dice,
    foreground_dice,
    held_out,
    predicted_masks,
    render_sample,
)
from ..training.keys import stage_seeds
from ..training.kit import KitError, image_gen_source
from ..training.profiles import NETWORKS, Profile, lookup
from .base import CheckContext, CheckGroup, OutputError, StageOutputs, StageRequest
from .cases import missing_output, student_error

STEPS = {"load": text("无法创建网络", "the network could not be built"),
         "train": text("训练出错", "training failed"),
         "predict": text("对新图片预测出错", "predicting the held-out images failed")}


def stage_name(net: str) -> str:
    return f"training_{net}"


def stage_task(profile: Profile, net: str, seed: int, generator: str) -> dict[str, Any]:
    """What the training stage needs to know: the class to build, how to train it, the kit's generator
    (its source) and the seeds of its own draws, derived one-way from the run's `seed`, which stays here."""
    budget = profile.nets[net]
    return {"class": NETWORKS[net], "device": profile.device, **stage_seeds(seed, net), "generator": generator,
            "size": profile.size, "steps": budget.steps, "batch": budget.batch, "lr": profile.lr,
            "momentum": profile.momentum, "weight_decay": profile.weight_decay, "cnt": profile.cnt,
            "sigma": profile.sigma, "batchnorm_images": profile.batchnorm_images}


def training_stage(ctx: CheckContext, profile: Profile, net: str, images: np.ndarray, source: str
                   ) -> StageRequest:
    """Write one network's stage input (the held-out images, without their masks) and describe the stage."""
    name = stage_name(net)
    ctx.save_input(name, "held_out", images)
    return StageRequest(name=name, handler="training", task=stage_task(profile, net, ctx.seed, source),
                        timeout_s=profile.nets[net].timeout_s, memory_mb=profile.memory_mb,
                        uses_gpu=profile.device.startswith("cuda"))


def finite_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def _hint(pred: np.ndarray, losses: np.ndarray) -> Text:
    """A guess at the cause, from what the network predicted and how its loss moved."""
    share = float(pred.mean())
    if share > 0.9:
        return text("网络几乎把每个像素都判为前景：forward 是否多做了 sigmoid？它应当返回 logits",
                    "it marks almost every pixel as foreground: does forward apply a sigmoid? It must return "
                    "logits (the training loop applies the sigmoid)")
    if share < 0.01:
        return text("网络几乎没有判出前景：检查 forward 是否返回最后一层的输出，梯度能否传到权重",
                    "it marks almost no pixel as foreground: check that forward returns the last layer's "
                    "output and that the loss reaches the weights")
    k = max(1, len(losses) // 5)
    if len(losses) >= 2 and np.nanmean(losses[-k:]) >= np.nanmean(losses[:k]):
        return text("loss 没有下降：检查网络的连接方式",
                    "the loss did not go down: check how the layers are wired")
    return text("检查跳跃连接和各层的通道数", "check the skip connections and the channel counts")


class TrainingGroup(CheckGroup):
    group = "training"

    def __init__(self, thresholds_file: Path = thresholds.THRESHOLDS_FILE):
        self.thresholds_file = thresholds_file
        self.problem: Text | None = None
        self.evaluation: tuple[np.ndarray, np.ndarray] | None = None  # images and masks, kept in the parent

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return [f"training/{net}" for net in NETWORKS]

    def _calibration(self, profile: Profile, net: str) -> tuple[dict | None, Text | None]:
        """The pass mark for `net` on `profile`, or why there is none."""
        found = thresholds.entry(profile.name, net, self.thresholds_file)
        command = f"unet-grader calibrate --profile {profile.name}"
        if found is None:
            return None, text(f"配置 {profile.name} 尚未校准 {NETWORKS[net]} 的通过线，请先运行 `{command}`",
                              f"profile {profile.name!r} has no calibrated pass mark for {NETWORKS[net]} "
                              f"yet: run `{command}` first")
        if found.get("settings") != profile.settings(net):
            return None, text(f"校准所用的训练设置与配置 {profile.name} 不同，请重新运行 `{command}`",
                              f"the calibration was made for other training settings than profile "
                              f"{profile.name!r} now has: run `{command}` again")
        return found, None

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        profile = lookup(ctx.profile)
        self.evaluation = None
        nets = [net for net in NETWORKS if self._calibration(profile, net)[0] is not None]
        if not nets:
            return []
        try:
            self.evaluation = held_out(profile, ctx.seed)
            source = image_gen_source()
        except KitError as exc:
            self.problem = text(f"评分程序安装不完整（请联系助教）：{exc}",
                                f"the grader's installation is incomplete (tell the TA): {exc}")
            return []
        return [training_stage(ctx, profile, net, self.evaluation[0], source) for net in nets]

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        if self.problem is not None:
            return [CheckResult.make(cid, "error", ctx.points(cid), self.problem)
                    for cid in self.check_ids(ctx)]
        profile = lookup(ctx.profile)
        images, masks = self.evaluation or held_out(profile, ctx.seed)
        return [self._judge_one(ctx, profile, net, outputs.get(stage_name(net)), images, masks)
                for net in NETWORKS]

    def _judge_one(self, ctx: CheckContext, profile: Profile, net: str, out: StageOutputs | None,
                   images: np.ndarray, masks: np.ndarray) -> CheckResult:
        cid, name = f"training/{net}", NETWORKS[net]
        points = ctx.points(cid)
        calibration, missing = self._calibration(profile, net)
        if calibration is None or out is None:
            return CheckResult.make(cid, "skipped", points, missing or text("没有运行", "not run"))
        threshold = float(calibration["threshold"])
        budget = profile.nets[net]
        details: dict[str, Any] = {
            "loss": [], "dice": None, "threshold": threshold, "dice_per_image": [], "seconds": None,
            "device": profile.device, "artifacts": {}, "profile": profile.name, "steps": budget.steps,
            "batch": budget.batch, "image_size": profile.size, "timeout_s": budget.timeout_s,
            "calibration": {k: calibration.get(k)
                            for k in ("mean", "std", "min", "n_seeds", "date", "device", "device_name")},
        }
        records = out.records()
        for case in ("load", "train", "predict"):
            record = records.get(case)
            if record is None or not record.get("ok"):
                return self._stopped(cid, points, name, case, record, out, records, details)
        details["seconds"] = _seconds(records["train"])
        try:
            losses = out.array("loss", shape=(budget.steps,))
            logits = out.array("logits", shape=(len(images), 2, profile.size, profile.size))
        except OutputError as exc:
            why = text(f"{name} 的训练输出无法使用：{exc}", f"{name}'s training output is unusable: {exc}")
            return CheckResult.make(cid, "failed", points, why, **details)
        pred = predicted_masks(logits)
        per_image = foreground_dice(pred, masks)
        dice = float(per_image.mean())
        sample = ctx.artifacts_dir / f"training_{net}_sample.png"
        render_sample(images[0, 0], masks[0], pred[0], f"{name}: Dice {per_image[0]:.3f} on this image", sample)
        details.update(loss=finite_list(losses), dice=round(dice, 4),
                       dice_per_image=[round(float(d), 4) for d in per_image],
                       all_foreground=round(all_foreground_dice(masks), 4),
                       artifacts={"sample": f"artifacts/{sample.name}"})
        summary = text(f"{name} 在 {len(images)} 张新图片上的前景 Dice 为 {dice:.3f}，通过线 {threshold:.3f}"
                       f"（参考答案 {calibration['n_seeds']} 次训练：{calibration['mean']:.3f} ± "
                       f"{calibration['std']:.3f}）",
                       f"{name}: foreground Dice {dice:.3f} on {len(images)} held-out images, pass mark "
                       f"{threshold:.3f} (reference over {calibration['n_seeds']} seeds: "
                       f"{calibration['mean']:.3f} +- {calibration['std']:.3f})")
        if dice >= threshold:
            return CheckResult.make(cid, "passed", points, summary, **details)
        hint = _hint(pred, losses)
        why = text(f"{summary.zh}，低于通过线。{hint.zh}", f"{summary.en}: below the pass mark. {hint.en}")
        return CheckResult.make(cid, "failed", points, why, **details)

    def _stopped(self, cid: str, points: float, name: str, case: str, record: dict | None, out: StageOutputs,
                 records: dict[str, dict], details: dict[str, Any]) -> CheckResult:
        """A network that did not get through building, training or predicting: say where and why."""
        what = STEPS[case]
        if record is not None:
            why = student_error(record)
            return CheckResult.make(cid, "failed", points, text(f"{name}：{what.zh}，{why.zh}",
                                                                f"{name}: {what.en}: {why.en}"), **details)
        progress = records.get("progress") or {}
        where = ""
        if case == "train" and isinstance(progress.get("step"), int):
            where = f" (after step {progress['step']} of {details['steps']})"
        if out.state == "timeout":
            limit = details["timeout_s"]
            why = text(f"{name}：训练超时（{limit} 秒）被终止",
                       f"{name}: stopped at the time limit ({limit} s){where}")
            return CheckResult.make(cid, "timeout", points, why, **details)
        if out.state == "memory":
            why = text(f"{name}：内存超限被终止", f"{name}: stopped for using too much memory{where}")
            return CheckResult.make(cid, "failed", points, why, **details)
        why = missing_output(out, case)
        return CheckResult.make(cid, "failed", points, text(f"{name}：{what.zh}，{why.zh}",
                                                            f"{name}: {what.en}: {why.en}{where}"), **details)


def _seconds(record: dict) -> float | None:
    value = record.get("seconds")
    return round(float(value), 2) if isinstance(value, (int, float)) and math.isfinite(value) else None
