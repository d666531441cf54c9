"""Q7: `deconv2d(input, weights)` in numpy, from the notebook: fill_zeros, conv2d, then crop one ring.

The parent takes `deconv2d` and what it needs out of the notebook (grader/notebook/extract.py) without
running the notebook, so a failing or unrelated cell cannot hide it. The stage runs it with deep-learning
frameworks blocked; the parent compares with torch's conv_transpose2d (stride 2, padding 1) on the
weights rotated 180 degrees with axes 0 and 1 swapped (FACTS.md), and names the usual mistakes.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..messages import Text, text
from ..notebook.cells import NotebookError, load_cells
from ..notebook.extract import Extraction, Snippet, extract
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest
from .cases import Verdict, missing_output, student_error, subcheck
from .compare import compare

STAGE = "deconv2d"
# what "numpy only" rules out: every deep-learning framework a student might reach for
FRAMEWORKS = ["torch", "torchvision", "torchaudio", "functorch", "tensorflow", "keras", "jax", "jaxlib",
              "flax", "paddle", "mxnet", "theano", "chainer", "mindspore", "oneflow", "tinygrad"]

# calls that import a module named by a string, or run a string as code
DYNAMIC_IMPORTS = {"__import__", "import_module", "find_spec", "exec", "eval", "compile"}

# the notebook's example (cell `q7-deconv-example` of the kit)
EXAMPLE_INPUT = np.array([
    [[1, 0, 1], [0, 2, 1], [1, 1, 0]],
    [[2, 0, 2], [0, 1, 0], [1, 0, 0]],
    [[1, 1, 1], [2, 2, 0], [1, 1, 1]],
    [[1, 1, 2], [1, 0, 1], [0, 2, 2]],
], dtype=np.float64)
EXAMPLE_WEIGHTS = np.array([
    [[[1, 0, 1], [-1, 1, 0], [0, -1, 0]],
     [[-1, 0, 1], [0, 0, 1], [1, 1, 1]],
     [[0, 1, 1], [2, 0, 1], [1, 2, 1]],
     [[1, 1, 1], [0, 2, 1], [1, 0, 1]]],
    [[[1, 0, 2], [-2, 1, 1], [1, -1, 0]],
     [[-1, 0, 1], [-1, 2, 1], [1, 1, 1]],
     [[0, 0, 0], [2, 2, 1], [1, -1, 1]],
     [[2, 1, 1], [0, -1, 1], [1, 1, 1]]],
], dtype=np.float64)

BLOCKED_HINT = text("（深度学习框架在这里被禁用：deconv2d 只能用 numpy）",
                    " (deep-learning frameworks are blocked here: deconv2d must use numpy only)")


def _transposed(x: np.ndarray, weights: np.ndarray, padding: int = 1) -> np.ndarray:
    """torch's ConvTranspose2d(stride=2) with the kernels rotated 180 degrees and axes 0/1 swapped."""
    w = torch.from_numpy(np.rot90(weights, 2, axes=(2, 3)).swapaxes(0, 1).copy())
    return F.conv_transpose2d(torch.from_numpy(x)[None], w, stride=2, padding=padding)[0].numpy()


def expected(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return _transposed(x, weights)


def _hidden(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Several channel counts, non-square sizes, 1 x 1 inputs, and the example's shapes with other numbers."""
    def ints(low: int, high: int, *shape: int) -> np.ndarray:
        return rng.integers(low, high + 1, size=shape).astype(np.float64)

    c = [int(v) for v in rng.integers(1, 5, size=8)]
    shapes = [(1, 1, 1, 1), (c[0], c[1], 1, 1), (4, 2, 3, 3), (c[2], c[3], 2, 5), (c[4], c[5], 4, 3),
              (c[6], c[7], 1, 4)]
    return {f"hidden-{i}-{ci}to{co}-{h}x{w}": (ints(-3, 3, ci, h, w), ints(-2, 2, co, ci, 3, 3))
            for i, (ci, co, h, w) in enumerate(shapes)}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _reached(node: ast.AST) -> list[str]:
    """The module names a node reaches: imports, a bare name, a string given to an import call or exec."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module]
    if isinstance(node, ast.Name):
        return [node.id]
    strings: list[ast.AST] = []
    if isinstance(node, ast.Call) and _called(node) in DYNAMIC_IMPORTS:
        strings = node.args
    elif isinstance(node, ast.Subscript) and "modules" in (getattr(node.value, "attr", None),
                                                            getattr(node.value, "id", None)):
        strings = [node.slice]  # sys.modules["torch"]
    words = [a.value for a in strings if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return [name for word in words for name in re.findall(r"[A-Za-z_][\w.]*", word)]


def framework_uses(snippets: list[Snippet]) -> list[str]:
    """Where the extracted code reaches a framework, however it is spelt in the source.

    deconv2d's own lines come first, so a message names the student's line before a distant import.
    """
    found = []
    for snip in snippets:
        for node in ast.walk(ast.parse(snip.source)):
            if any(name.split(".")[0] in FRAMEWORKS for name in _reached(node)):
                line = snip.line + getattr(node, "lineno", 1) - 1
                found.append((snip.name != "deconv2d", snip.cell, line, ast.unparse(node)[:80]))
    return list(dict.fromkeys(f"cell {cell}, line {line}: {what}" for _, cell, line, what in sorted(found)))


class Deconv2dGroup(CheckGroup):
    group = "deconv2d"

    def __init__(self) -> None:
        self._extraction: Extraction | None = None
        self._problem: Text | None = None

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["deconv2d/notebook-example", "deconv2d/hidden-cases", "deconv2d/numpy-only"]

    def _cases(self, ctx: CheckContext) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
        return {"deconv2d/notebook-example": {"example": (EXAMPLE_INPUT, EXAMPLE_WEIGHTS)},
                "deconv2d/hidden-cases": _hidden(ctx.rng(self.group))}

    def _read(self, ctx: CheckContext) -> None:
        """Extract deconv2d from the notebook once, before the sandbox runs (which may change the file)."""
        self._extraction, self._problem = None, None
        if ctx.notebook is None:
            self._problem = text("没有找到 notebook：deconv2d（Q7）写在 notebook 中，缺少 notebook 即缺少这道题",
                                 "no notebook found: deconv2d (Q7) is written in the notebook, so without it the "
                                 "task is missing")
            return
        try:
            cells = load_cells(ctx.notebook)
        except NotebookError as exc:
            self._problem = text(f"notebook 无法读取：{exc}", f"the notebook cannot be read: {exc}")
            return
        self._extraction = extract(cells, "deconv2d")
        if self._extraction.defines("deconv2d"):
            return
        broken = ", ".join(f"{i} ({why})" for i, why in self._extraction.unparsed
                           if "def deconv2d" in cells[i].source)
        if broken:
            self._problem = text(f"定义 deconv2d 的单元格有语法错误：单元格 {broken}",
                                 f"the cell that defines deconv2d does not parse: cell {broken}")
        else:
            self._problem = text("notebook 中没有定义 deconv2d", "deconv2d is not defined in the notebook")

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        self._read(ctx)
        if self._extraction is None or self._problem is not None:
            return []
        names = []
        for cases in self._cases(ctx).values():
            for name, (x, w) in cases.items():
                ctx.save_input(STAGE, f"{name}_input", x)
                ctx.save_input(STAGE, f"{name}_weights", w)
                names.append(name)
        task = {"definitions": [asdict(s) for s in self._extraction.snippets], "cases": names,
                "blocked": FRAMEWORKS}
        return [StageRequest(name=STAGE, handler="deconv2d", task=task, timeout_s=60, memory_mb=2048)]

    def _notebook_detail(self) -> dict[str, Any]:
        ex = self._extraction
        if ex is None:
            return {}
        return {"notebook": {"definitions": [f"cell {s.cell}: {s.name}" for s in ex.snippets],
                             "undefined_names": ex.missing,
                             "unparsed_cells": [{"cell": i, "error": why} for i, why in ex.unparsed]}}

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        ids = self.check_ids(ctx)
        if self._extraction is None and self._problem is None:
            self._read(ctx)
        detail = self._notebook_detail()
        if self._problem is not None:  # no notebook, or no deconv2d in it: work not handed in
            return self.missing(ctx, self._problem, **detail)
        out = outputs[STAGE]
        records = out.records()
        static = framework_uses(self._extraction.snippets)
        attempts = list(dict.fromkeys(str(m) for name, r in records.items() if name.endswith("/blocked")
                                      for m in (r.get("blocked") or [])))
        load = records.get("load")
        if load is None or not load.get("ok"):
            why = student_error(load) if load else missing_output(out, "load")
            reason = text(f"无法运行 notebook 中 deconv2d 的定义：{why.zh}",
                          f"could not run deconv2d's definitions: {why.en}")
            status = "timeout" if out.state == "timeout" else "error"
            return [CheckResult.make(cid, status, ctx.points(cid), reason, **detail) for cid in ids]
        detail["notebook"]["definition_errors"] = [
            f"{d.get('name')}: {d.get('type')}: {str(d.get('message'))[:200]}"
            for d in load.get("problems") or [] if isinstance(d, dict)]
        results = []
        for check_id, cases in self._cases(ctx).items():
            verdicts = [self._verdict(name, x, w, records.get(name), out, bool(static or attempts))
                        for name, (x, w) in cases.items()]
            result = subcheck(check_id, ctx.points(check_id), verdicts, text(
                "所有用例的结果都与转置卷积一致", "matches the transposed convolution on every case"))
            result.details.update(detail)
            results.append(result)
        detail.update(framework_uses=static, blocked_imports=attempts)
        results.append(self._numpy_only(ctx, ids[2], records, static, attempts, detail))
        return results

    @staticmethod
    def _numpy_only(ctx: CheckContext, check_id: str, records: dict, static: list[str], attempts: list[str],
                    detail: dict) -> CheckResult:
        points = ctx.points(check_id)
        if static or attempts:
            where = static[0] if static else f"import {attempts[0]}"
            why = text(f"deconv2d 用到了深度学习框架（{where}）；本题要求只用 numpy，即使结果正确也不得分",
                       f"deconv2d reaches a deep-learning framework ({where}); the lab asks for numpy only, "
                       f"so this does not count even when the numbers are right")
            return CheckResult.make(check_id, "failed", points, why, **detail)
        if not any(r.get("ok") for name, r in records.items() if "/" not in name and name != "load"):
            why = text("deconv2d 没有在任何用例上返回数组，无从判断",
                       "deconv2d returned no array on any case, so there is nothing to judge")
            return CheckResult.make(check_id, "failed", points, why, **detail)
        return CheckResult.make(check_id, "passed", points, text("只用了 numpy", "uses numpy only"), **detail)

    def _verdict(self, name: str, x: np.ndarray, w: np.ndarray, record: dict | None, out: StageOutputs,
                 blocked: bool) -> Verdict:
        c_out, h, wd = w.shape[0], x.shape[1], x.shape[2]
        want = (c_out, 2 * h - 1, 2 * wd - 1)
        inputs = {"input_shape": list(x.shape), "weights_shape": list(w.shape), "expected_shape": list(want)}
        if record is None:
            return Verdict(name, False, missing_output(out, name), inputs)
        if not record.get("ok"):
            why = student_error(record)
            if blocked and "numpy only" not in why.en:
                why = text(why.zh + BLOCKED_HINT.zh, why.en + BLOCKED_HINT.en)
            return Verdict(name, False, why, inputs)
        try:
            got = out.array(name, max_elements=16 * int(np.prod(want)) + 64)
        except Exception as exc:  # an unreadable or oversized output: the student's value is unusable
            return Verdict(name, False, text(f"输出无法读取：{exc}", f"output unreadable: {exc}"), inputs)
        comparison = compare(expected(x, w), got, rtol=1e-6, atol=1e-6)
        detail = {"inputs": inputs, "comparison": comparison}
        if comparison["match"]:
            return Verdict(name, True, detail=detail)
        return Verdict(name, False, _diagnose(x, w, got, want), detail)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-6)


def _diagnose(x: np.ndarray, w: np.ndarray, got: np.ndarray, want: tuple[int, ...]) -> Text:
    """Name the mistake: a hard-coded answer, no crop, a crop off by one, flipped kernels, or just wrong."""
    full = _transposed(x, w, padding=0)  # conv2d(fill_zeros(x), w) before the crop: (C_out, 2h+1, 2w+1)
    example = expected(EXAMPLE_INPUT, EXAMPLE_WEIGHTS)
    if _close(got, example) and not _close(example, expected(x, w)):
        return text("无论输入是什么都返回 notebook 示例的答案（写死了结果？）",
                    "it returns the notebook example's answer whatever the input (a hard-coded result?)")
    if _close(got, full):
        return text(f"没有裁剪：返回了完整的 {full.shape[1]}x{full.shape[2]} 卷积结果；"
                    f"应裁掉四周各一行/列，得到 {want[1]}x{want[2]}",
                    f"not cropped: it returns the whole {full.shape[1]}x{full.shape[2]} convolution; "
                    f"crop one row/column off every edge to get {want[1]}x{want[2]}")
    if got.ndim == 3 and got.shape[0] == full.shape[0] and got.shape[1] <= full.shape[1] \
            and got.shape[2] <= full.shape[2]:
        gh, gw = got.shape[1], got.shape[2]
        for i in range(full.shape[1] - gh + 1):
            for j in range(full.shape[2] - gw + 1):
                if _close(got, full[:, i:i + gh, j:j + gw]):
                    return text(f"裁剪位置不对（差一）：返回的是卷积结果的 [{i}:{i + gh}, {j}:{j + gw}]，"
                                f"应为 [1:-1, 1:-1]，形状 {want}",
                                f"the crop is off by one: it returns the convolution's [{i}:{i + gh}, "
                                f"{j}:{j + gw}] window; the transposed convolution is its [1:-1, 1:-1], "
                                f"of shape {want}")
    if _close(got, expected(x, np.rot90(w, 2, axes=(2, 3)).copy())):
        return text("卷积核被旋转了 180°：deconv2d 就是用原样的 weights 做 "
                    "conv2d(fill_zeros(input), weights) 再裁剪",
                    "the kernels are rotated by 180 degrees: deconv2d is conv2d(fill_zeros(input), weights) "
                    "with the weights as given, then cropped")
    if got.shape != want:
        return text(f"输出形状应为 {want}（C_out, 2h-1, 2w-1），实际为 {got.shape}",
                    f"the output should have shape {want} (C_out, 2h-1, 2w-1), got {got.shape}")
    return text("数值与转置卷积不同", "the values differ from the transposed convolution")
