"""Notebook: the submitted notebook runs as a TA runs it (with its training budget capped), plots the loss
(Q2) and prints the four Jaccard values (Q3).

The parent writes a copy of the notebook without outputs and with `epochs`, `steps`, `batch_size` and
`num_validation` bounded by the profile, a kernel start-up file that makes `.cuda()` a no-op where there is
no CUDA, and puts the kit's own `image_utils` beside it; the sandbox runs every cell with nbclient (a timeout
per cell, a deadline for the whole notebook), going on after a failing cell, and writes the executed copy,
which the parent validates and keeps as `artifacts/executed.ipynb`. Every failing cell is recorded; those
that fail only for the grader's missing GPU (the original kit's GPU-query cells) cost nothing.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from typing import Any

import nbformat

from ..messages import Text, text
from ..notebook.execute import (
    MAX_EXECUTED_BYTES,
    Capped,
    NotebookUnreadable,
    capped_copy,
    error_output,
    executed_cell,
    kernel_startup_source,
    png_output,
    ran,
    read_executed,
    text_output,
)
from ..notebook.kit_cells import kit_cell, no_cuda_error
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
    position: int = 0  # 1-based among the code cells that run, as Jupyter numbers them top to bottom
    kit: str | None = None  # "gpu-query" or "kit" (see notebook.kit_cells), None for the student's own


class NotebookGroup(CheckGroup):
    group = "notebook"

    def __init__(self) -> None:
        self.handed_in: Capped | None = None
        self.problem: Text | None = None
        self.problem_status = "failed"  # missing or unreadable work fails; a grader-side problem is an error

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return ["notebook/runs", "notebook/loss-plot", "notebook/jaccard-output"]

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        if ctx.notebook is None:
            self.problem = text("提交中没有找到 notebook", "no notebook found in the submission")
            return []
        if not IMAGE_UTILS.is_dir():
            self.problem_status = "error"
            self.problem = text(f"评分程序安装不完整（请联系助教）：缺少 {IMAGE_UTILS}",
                                f"the grader's installation is incomplete (tell the TA): {IMAGE_UTILS} is missing")
            return []
        budget = lookup(ctx.profile).notebook
        try:
            self.handed_in = capped_copy(ctx.notebook, budget.caps(), ctx.stage_inputs(STAGE) / "notebook.ipynb")
        except NotebookUnreadable as exc:
            self.problem = text(f"notebook 无法读取：{exc}", f"the notebook cannot be read: {exc}")
            return []
        (ctx.stage_inputs(STAGE) / "kernel_startup.py").write_text(kernel_startup_source(), encoding="utf-8")
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
        if self.problem is not None:
            if self.problem_status == "error":
                return [CheckResult.make(cid, "error", ctx.points(cid), self.problem) for cid in self.check_ids(ctx)]
            return self.missing(ctx, self.problem)
        if self.handed_in is None or STAGE not in outputs:
            return self.not_run(ctx, text("notebook 没有运行", "the notebook was not run"))
        out = outputs[STAGE]
        executed = read_executed(out.file_bytes("executed.ipynb", MAX_EXECUTED_BYTES))
        cells = []
        for i, c in enumerate(self.handed_in.nb.cells):
            if c.cell_type == "code" and c.source.strip():
                cells.append(Ran(i, c.source, _tags(c), executed_cell(executed, i, c.source), len(cells) + 1,
                                 kit_cell(self.handed_in.submitted.get(i, c.source))))
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
                  for r in self.handed_in.rewrites]
        uncapped = [{"cell": i, "cell_number": i + 1, "reason": why} for i, why in self.handed_in.uncapped.items()]
        details: dict[str, Any] = {"cells_total": total, "artifacts": artifacts, "capped": capped,
                                   "uncapped": uncapped}
        records = out.records()
        if out.state != "timeout" and "kernel" not in records:
            setup = records.get("setup") or {}
            why = (setup.get("error") or {}).get("message") or out.log()[-500:] or out.state
            why = text(f"无法启动 notebook 内核：{why}", f"the notebook's kernel could not start: {why}")
            return CheckResult.make(cid, "error", points, why, cells_run=0, **details)
        cpu_only = not lookup(ctx.profile).device.startswith("cuda")
        failures = []
        for cell in cells:
            if ran(cell.executed) and not error_output(cell.executed):
                continue
            if not ran(cell.executed) and not error_output(cell.executed) and failures and failures[-1]["not_run"]:
                failures[-1]["later_cells"] += 1  # the run ended here: one entry says why, for all the rest
                continue
            failures.append(self._failure(cell, out, records, cpu_only))
            if len(failures) > 1:  # the first traceback explains; later ones are mostly its consequences
                failures[-1]["traceback"] = failures[-1]["traceback"][-1500:]
        ok = sum(1 for c in cells if ran(c.executed) and not error_output(c.executed))
        excused = [f for f in failures if f["cause"] == "environment"]
        own = [f for f in failures if f["cause"] == "student"]
        counted = total - len(excused)
        details.update(cells_run=ok, cells_counted=counted, failures=failures,
                       environment_cells=[f["code_cell"] for f in excused])
        if own:
            details["failing_cell"] = own[0]
        note = _environment_note(excused)
        if not own:
            return CheckResult.make(cid, "passed", points,
                                    text(f"notebook 的 {counted} 个代码单元全部运行成功{note.zh}",
                                         f"all {counted} code cells counted ran without error{note.en}"), **details)
        score = round(points * ok / counted, 4) if counted else 0.0
        first = own[0]
        status = "timeout" if first["error_name"] in ("CellTimeoutError", "NotebookTimeout") else "failed"
        listed = "; ".join(f"{f['code_cell']} ({f['error_name']}: {f['error_value'][:120]})"
                           + (f" +{f['later_cells']} later cells not run" if f["later_cells"] else "") for f in own[:3])
        more = f" …+{len(own) - 3}" if len(own) > 3 else ""
        msg = text(f"{counted} 个代码单元中 {ok} 个运行成功；出错的代码单元（按 Jupyter 从上到下的编号）："
                   f"{listed}{more}{note.zh}",
                   f"{ok} of {counted} code cells ran without error; failing code cells (numbered top to bottom, "
                   f"as Jupyter runs them): {listed}{more}{note.en}")
        return CheckResult.make(cid, status, points, msg, score=score, **details)

    def _failure(self, cell: Ran, out: StageOutputs, records: dict[str, dict], cpu_only: bool) -> dict[str, Any]:
        """One failing cell for the report: where, what it raised, and whose failure it is."""
        why = self._why_stopped(cell.executed, out, records)
        no_gpu = error_output(cell.executed) is not None and (
            cell.kit == "gpu-query" or (cpu_only and no_cuda_error(why["error_name"], why["error_value"])))
        return {"index": cell.index, "cell_number": cell.index + 1, "code_cell": cell.position,
                "source": cell.source[:2000], **why, "changed": cell.kit is None, "kit_cell": cell.kit,
                "cause": "environment" if no_gpu else "student", "not_run": not ran(cell.executed),
                "later_cells": 0}

    def _why_stopped(self, cell, out: StageOutputs, records: dict[str, dict]) -> dict[str, str]:
        """The failing cell's error output (the stage adds one on a timeout or a dead kernel), else why the
        run ended before the cell finished."""
        found = error_output(cell)
        if found:
            return found
        if (records.get("stop") or {}).get("reason") == "deadline" or out.state == "timeout":
            return {"error_name": "NotebookTimeout", "traceback": "",
                    "error_value": "the cell did not run within the notebook's time limit"}
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
        # the tagged cell, else every cell that calls `.forward(` on a Jaccard (the examples may span cells)
        found = [c for c in cells if "q3-jaccard" in c.tags] or \
            [c for c in cells if "jaccard" in c.source.lower() and ".forward(" in c.source]
        done = [c for c in found if ran(c.executed)]
        if not done:
            why = (text("没有找到 Q3 的 Jaccard 单元（标签 q3-jaccard）",
                        "no Q3 Jaccard cell (tagged q3-jaccard)")
                   if not found else text("Q3 的 Jaccard 单元没有运行到（见 notebook/runs）",
                                          "the Q3 Jaccard cell did not run (see notebook/runs)"))
            return CheckResult.make(cid, "failed", points, why, artifacts=artifacts)
        cell = done[-1]
        printed = "\n".join(text_output(c.executed) for c in done)
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


def _environment_note(excused: list[dict[str, Any]]) -> Text:
    """What the grader's own environment cost: nothing, and which cells that was."""
    if not excused:
        return text("", "")
    where = ", ".join(str(f["code_cell"]) for f in excused)
    return text(f"。代码单元 {where} 只因评分机器没有 GPU（CUDA）而出错，不扣分",
                f". Code cells {where} failed only because the grader has no GPU (CUDA): not counted")


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
