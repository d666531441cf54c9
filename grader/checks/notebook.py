"""Notebook: the submitted notebook runs to the end (with its training budget capped), plots the loss (Q2)
and prints the four Jaccard values (Q3).

The parent writes a copy of the notebook without outputs and with `epochs`, `steps`, `batch_size` and
`num_validation` bounded by the profile, and puts the kit's own `image_utils` beside it; the sandbox runs it
with nbclient (a timeout per cell, a deadline for the whole notebook) and writes the executed copy, which
the parent validates and keeps as `artifacts/executed.ipynb`.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from typing import Any

import nbformat

from ..messages import Text, text
from ..notebook.cap import Rewrite
from ..notebook.execute import (
    MAX_EXECUTED_BYTES,
    NotebookUnreadable,
    capped_copy,
    error_output,
    executed_cell,
    png_output,
    ran,
    read_executed,
    text_output,
)
from ..results import CheckResult
from ..training.kit import IMAGE_UTILS
from ..training.profiles import lookup
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest
from .cases import STAGE_ENDINGS, Verdict, subcheck

STAGE = "notebook"
DEADLINE_MARGIN_S = 20.0  # kernel start-up and shutdown, inside the stage's limit
JACCARD_EXPECTED = [("eye-eye", 1.0), ("eye-ones", 1 / 3), ("zeros-ones", 0.0001 / 9.0001),
                    ("zeros-zeros", 1.0)]
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
SCALAR_TENSOR = re.compile(r"tensor\(\s*([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)\s*[,)]")
TRAIN_TAGS = ("train-unet", "train-unet-shallow", "train-unet-add")


@dataclass
class Ran:
    """A code cell as the parent handed it in (index, source, tags), with its executed copy if any."""

    index: int
    source: str
    tags: list[str]
    executed: dict | None


class NotebookGroup(CheckGroup):
    group = "notebook"

    def __init__(self) -> None:
        self.handed_in: nbformat.NotebookNode | None = None
        self.rewrites: list[Rewrite] = []
        self.problem: Text | None = None

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["notebook/runs", "notebook/loss-plot", "notebook/jaccard-output"]

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        if ctx.notebook is None:
            self.problem = text("提交中没有找到 notebook", "no notebook found in the submission")
            return []
        if not IMAGE_UTILS.is_dir():
            self.problem = text(f"评分程序安装不完整（请联系助教）：缺少 {IMAGE_UTILS}",
                                f"the grader's installation is incomplete (tell the TA): {IMAGE_UTILS} is missing")
            return []
        budget = lookup(ctx.profile).notebook
        try:
            self.handed_in, self.rewrites = capped_copy(ctx.notebook, budget.caps(),
                                                        ctx.stage_inputs(STAGE) / "notebook.ipynb")
        except NotebookUnreadable as exc:
            self.problem = text(f"notebook 无法读取：{exc}", f"the notebook cannot be read: {exc}")
            return []
        kit_copy = ctx.notebook.parent / "image_utils"
        if kit_copy.is_symlink() or kit_copy.is_file():
            kit_copy.unlink()
        elif kit_copy.is_dir():
            shutil.rmtree(kit_copy)
        shutil.copytree(IMAGE_UTILS, kit_copy, ignore=shutil.ignore_patterns("__pycache__"))
        task = {"notebook": ctx.notebook.relative_to(ctx.submission_dir).as_posix(),
                "cell_timeout_s": budget.cell_timeout_s, "deadline_s": budget.timeout_s - DEADLINE_MARGIN_S}
        gpu = lookup(ctx.profile).device.startswith("cuda")
        return [StageRequest(name=STAGE, handler="notebook", task=task, timeout_s=budget.timeout_s,
                             memory_mb=budget.memory_mb, uses_gpu=gpu)]

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        if self.handed_in is None or STAGE not in outputs:
            return self.not_run(ctx, self.problem or text("notebook 没有运行", "the notebook was not run"))
        out = outputs[STAGE]
        executed = read_executed(out.file_bytes("executed.ipynb", MAX_EXECUTED_BYTES))
        cells = [Ran(i, c.source, _tags(c), executed_cell(executed, i, c.source))
                 for i, c in enumerate(self.handed_in.cells) if c.cell_type == "code" and c.source.strip()]
        artifacts = self._artifacts(ctx, executed, cells)
        return [self._runs(ctx, out, cells, artifacts), self._loss_plot(ctx, cells, artifacts),
                self._jaccard(ctx, cells, artifacts)]

    def _artifacts(self, ctx: CheckContext, executed, cells) -> dict[str, str]:
        found = {}
        if executed is not None:
            nbformat.write(executed, ctx.artifacts_dir / "executed.ipynb")
            found["executed_notebook"] = "artifacts/executed.ipynb"
        # a failing cell's figure does not count: the inline backend still shows the half-drawn axes
        drawn = [png_output(c.executed) for c in _loss_plot_candidates(cells) if not error_output(c.executed)]
        png = next((p for p in drawn if p), None)
        if png is not None:
            (ctx.artifacts_dir / "q2_loss.png").write_bytes(png)
            found["loss_plot"] = "artifacts/q2_loss.png"
        return found

    def _runs(self, ctx: CheckContext, out: StageOutputs, cells, artifacts: dict[str, str]) -> CheckResult:
        cid = "notebook/runs"
        points = ctx.points(cid)
        total = len(cells)
        capped = [{"cell": r.cell, "name": r.name, "before": r.before, "after": r.after}
                  for r in self.rewrites]
        details: dict[str, Any] = {"cells_total": total, "artifacts": artifacts, "capped": capped}
        records = out.records()
        if out.state != "timeout" and "kernel" not in records:
            setup = records.get("setup") or {}
            why = (setup.get("error") or {}).get("message") or out.log()[-500:] or out.state
            why = text(f"无法启动 notebook 内核：{why}", f"the notebook's kernel could not start: {why}")
            return CheckResult.make(cid, "error", points, why, cells_run=0, **details)
        done = 0
        for cell in cells:
            if not ran(cell.executed) or error_output(cell.executed):
                break
            done += 1
        details["cells_run"] = done
        if done == total:
            return CheckResult.make(cid, "passed", points,
                                    text(f"notebook 全部 {total} 个代码单元运行成功",
                                         f"all {total} code cells ran without error"), **details)
        stopped = cells[done]
        index = stopped.index
        failing = {"index": index, "source": stopped.source[:2000],
                   **self._why_stopped(stopped.executed, out, records)}
        details["failing_cell"] = failing
        score = round(points * done / total, 4) if total else 0.0
        status = "timeout" if failing["error_name"] in ("CellTimeoutError", "NotebookTimeout") else "failed"
        msg = text(f"notebook 运行到第 {index} 个单元时停止（{done}/{total} 个代码单元成功）："
                   f"{failing['error_name']}: {failing['error_value']}",
                   f"the notebook stopped at cell {index} ({done} of {total} code cells ran): "
                   f"{failing['error_name']}: {failing['error_value']}")
        return CheckResult.make(cid, status, points, msg, score=score, **details)

    def _why_stopped(self, cell, out: StageOutputs, records: dict[str, dict]) -> dict[str, str]:
        """The failing cell's error output (the stage adds one on a timeout or a dead kernel), else why the
        run ended before the cell finished."""
        found = error_output(cell)
        if found:
            return found
        if (records.get("stop") or {}).get("reason") == "deadline" or out.state == "timeout":
            return {"error_name": "NotebookTimeout", "traceback": "",
                    "error_value": "the cell did not finish within the notebook's time limit"}
        ending = STAGE_ENDINGS.get(out.state, text("没有运行", "did not run"))
        return {"error_name": "NotRun", "error_value": f"the cell did not run: the notebook run {ending.en}",
                "traceback": out.log()[-2000:]}

    def _loss_plot(self, ctx: CheckContext, cells, artifacts: dict[str, str]) -> CheckResult:
        cid = "notebook/loss-plot"
        points = ctx.points(cid)
        candidates = _loss_plot_candidates(cells)
        details = {"artifacts": artifacts, "cells": [c.index for c in candidates]}
        if "loss_plot" in artifacts:
            plotted = text("Q2 画出了 loss 曲线", "Q2 plots the loss curve")
            return CheckResult.make(cid, "passed", points, plotted, **details)
        if not candidates:
            why = text("没有找到画 loss 曲线的单元（标签 q2-loss-plot）",
                       "no cell plots the loss (the cell tagged q2-loss-plot)")
        elif not any(ran(c.executed) for c in candidates):
            why = text("画 loss 曲线的单元没有运行到（见 notebook/runs）",
                       "the cell that plots the loss did not run (see notebook/runs)")
        elif all(error_output(c.executed) for c in candidates if ran(c.executed)):
            why = text("画 loss 曲线的单元运行出错（见 notebook/runs）",
                       "the cell that plots the loss raised an error (see notebook/runs)")
        else:
            why = text("画 loss 曲线的单元运行了，但没有输出图像：先 plt.plot(curr_step, step_loss)，"
                       "再 plt.show()",
                       "the loss-plot cell ran but drew no figure: plt.plot(curr_step, step_loss), "
                       "then plt.show()")
        return CheckResult.make(cid, "failed", points, why, **details)

    def _jaccard(self, ctx: CheckContext, cells, artifacts: dict[str, str]) -> CheckResult:
        cid = "notebook/jaccard-output"
        points = ctx.points(cid)
        cell = next((c for c in cells if "q3-jaccard" in c.tags), None) or \
            next((c for c in cells if "JaccardCoeff" in c.source and ".forward(" in c.source), None)
        if cell is None or not ran(cell.executed):
            why = (text("没有找到 Q3 的 Jaccard 单元（标签 q3-jaccard）",
                        "no Q3 Jaccard cell (tagged q3-jaccard)")
                   if cell is None else text("Q3 的 Jaccard 单元没有运行到（见 notebook/runs）",
                                             "the Q3 Jaccard cell did not run (see notebook/runs)"))
            return CheckResult.make(cid, "failed", points, why, artifacts=artifacts)
        printed = text_output(cell.executed)
        values = printed_values(printed)[-len(JACCARD_EXPECTED):]
        verdicts = []
        for k, (name, expected) in enumerate(JACCARD_EXPECTED):
            got = values[k] if len(values) == len(JACCARD_EXPECTED) else None
            ok = got is not None and math.isclose(got, expected, rel_tol=1e-3, abs_tol=1e-12)
            shown = f"{got:.5g}" if got is not None else None
            why = None if ok else text(f"期望约 {expected:.5g}，输出为 {shown or '（无）'}",
                                       f"expected about {expected:.5g}, printed {shown or 'nothing'}")
            verdicts.append(Verdict(name, ok, why, {"expected": expected, "printed": got}))
        result = subcheck(cid, points, verdicts, text("Q3 输出的四个 Jaccard 值正确",
                                                      "Q3 prints the four expected Jaccard values"))
        result.details.update(cell=cell.index, output=printed[-2000:], artifacts=artifacts)
        return result


def _tags(cell: dict) -> list[str]:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _loss_plot_candidates(cells: list[Ran]) -> list[Ran]:
    """The Q2 cell by tag first, then any cell after the first training cell that plots a loss."""
    tagged = [c for c in cells if "q2-loss-plot" in c.tags]
    after = min((c.index for c in cells if set(TRAIN_TAGS) & set(c.tags)), default=-1)
    plotting = [c for c in cells if c.index > after and c not in tagged
                and "loss" in c.source.lower() and "plot(" in c.source]
    return tagged + plotting


def printed_values(printed: str) -> list[float]:
    """The scalars a cell printed: the values of `tensor(x, ...)` if there are any, else plain numbers
    on lines that are not matrix rows."""
    scalars = SCALAR_TENSOR.findall(printed)
    if scalars:
        return [float(v) for v in scalars]
    lines = [line for line in printed.splitlines() if "[" not in line and "]" not in line]
    return [float(v) for line in lines for v in NUMBER.findall(line)]
