"""Q3: `JaccardCoeff.forward(input, target)` = (inter + eps) / (sum(input) + sum(target) - inter + eps)."""

from __future__ import annotations

import numpy as np

from ..messages import Text, text
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest
from .cases import Verdict, missing_files, missing_output, student_error, subcheck
from .compare import compare

EPS = 0.0001
STAGE = "jaccard"
FILES = ["unet/dice_loss.py"]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The lab's definition, in float64."""
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    inter = float(a @ b)
    return (inter + EPS) / (a.sum() + b.sum() - inter + EPS)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return (2 * float(a @ b) + EPS) / (a.sum() + b.sum() + EPS)


def _notebook_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    eye, ones, zeros = np.eye(3), np.ones((3, 3)), np.zeros((3, 3))
    return {"eye-eye": (eye, eye), "eye-ones": (eye, ones), "zeros-ones": (zeros, ones), "zeros-zeros": (zeros, zeros)}


def _mask(rng: np.random.Generator, shape: tuple[int, ...], dtype: type, density: float) -> np.ndarray:
    return (rng.random(shape) < density).astype(dtype)


def _hidden_cases(rng: np.random.Generator) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    shapes = [(16, 16), (5, 7), (32, 24), (1, 9)]
    hidden = {}
    for i, shape in enumerate(shapes):
        dtype = (np.float32, np.float64)[i % 2]
        hidden[f"mask-{i}"] = (_mask(rng, shape, dtype, rng.uniform(0.2, 0.8)),
                               _mask(rng, shape, dtype, rng.uniform(0.2, 0.8)))
    empty_shape = (int(rng.integers(4, 12)), int(rng.integers(4, 12)))
    full = _mask(rng, empty_shape, np.float32, 0.5)
    full.flat[0] = 1.0
    empty = {"empty-input": (np.zeros(empty_shape, np.float32), full),
             "empty-target": (full.astype(np.float64), np.zeros(empty_shape)),
             "both-empty": (np.zeros(empty_shape, np.float32), np.zeros(empty_shape, np.float32))}
    batch_shape = (int(rng.integers(2, 5)), 2, 8, 8)
    batch = {"batch": (_mask(rng, batch_shape, np.float32, 0.4), _mask(rng, batch_shape, np.float32, 0.5))}
    return {"jaccard/hidden-masks": hidden, "jaccard/empty-masks": empty, "jaccard/batch": batch}


class JaccardGroup(CheckGroup):
    group = "jaccard"
    absent: Text | None = None  # what of FILES was not handed in, read before the sandbox runs

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["jaccard/notebook-cases", "jaccard/hidden-masks", "jaccard/empty-masks", "jaccard/batch"]

    def _cases(self, ctx: CheckContext) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
        return {"jaccard/notebook-cases": _notebook_cases(), **_hidden_cases(ctx.rng(self.group))}

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        self.absent = missing_files(ctx.submission_dir, FILES)
        names = []
        for cases in self._cases(ctx).values():
            for name, (a, b) in cases.items():
                ctx.save_input(STAGE, f"{name}_input", a)
                ctx.save_input(STAGE, f"{name}_target", b)
                names.append(name)
        return [StageRequest(name=STAGE, handler="jaccard", task={"cases": names}, timeout_s=15, memory_mb=2048)]

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        out = outputs[STAGE]
        records = out.records()
        load = records.get("load")
        if load is None or not load.get("ok"):
            why = student_error(load) if load else missing_output(out, "load")
            if self.absent is not None:
                return self.missing(ctx, text(f"无法载入 JaccardCoeff：{self.absent.zh}",
                                              f"could not load JaccardCoeff: {self.absent.en}"))
            reason = text(f"无法从 unet/dice_loss.py 载入 JaccardCoeff：{why.zh}",
                          f"could not load JaccardCoeff from unet/dice_loss.py: {why.en}")
            return [CheckResult.make(cid, "error", ctx.points(cid), reason) for cid in self.check_ids(ctx)]
        results = []
        for check_id, cases in self._cases(ctx).items():
            verdicts = [self._verdict(name, a, b, records.get(name), out) for name, (a, b) in cases.items()]
            results.append(subcheck(check_id, ctx.points(check_id), verdicts,
                                    text("所有用例的 Jaccard 值正确", "Jaccard is correct on every case")))
        return results

    def _verdict(self, name: str, a: np.ndarray, b: np.ndarray, record: dict | None, out: StageOutputs
                 ) -> Verdict:
        inputs = {"input_shape": list(a.shape), "input_dtype": str(a.dtype), "target_shape": list(b.shape)}
        if record is None:
            return Verdict(name, False, missing_output(out, name), {"inputs": inputs})
        if not record.get("ok"):
            return Verdict(name, False, student_error(record), {"inputs": inputs})
        expected = np.asarray(jaccard(a, b))
        try:
            received = out.array(name, max_elements=a.size + 16)
        except Exception as exc:  # an unreadable or oversized output: the student's value is unusable
            return Verdict(name, False, text(f"输出无法读取：{exc}", f"output unreadable: {exc}"), {"inputs": inputs})
        if received.size != 1:
            why = text(f"应返回一个标量，实际返回了形状 {tuple(received.shape)} 的张量",
                       f"should return one number, returned a tensor of shape {tuple(received.shape)}")
            return Verdict(name, False, why, {"inputs": inputs})
        rtol = 1e-4 if a.dtype == np.float32 else 1e-6
        comparison = compare(expected, received.reshape(()), rtol=rtol, atol=1e-7)
        detail = {"inputs": inputs, "comparison": comparison}
        if comparison["match"]:
            return Verdict(name, True, detail=detail)
        got = float(received.reshape(()))
        why = text(f"输入形状 {a.shape}（{a.dtype}），期望 {expected:.6g}，实际 {got:.6g}",
                   f"inputs of shape {a.shape} ({a.dtype}): expected {expected:.6g}, got {got:.6g}")
        if np.isclose(got, dice(a, b), rtol=1e-4):
            why = text(why.zh + "。这是 Dice 系数；Jaccard = 交集 / (|A| + |B| - 交集)",
                       why.en + ". That is the Dice coefficient; Jaccard = inter / (|A| + |B| - inter)")
        return Verdict(name, False, why, detail)
