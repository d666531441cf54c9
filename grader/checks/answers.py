"""Answers: the written questions Q1, Q4 and Q5, collected from the notebook for a TA to grade by hand.

Nothing runs: the parent reads the submitted notebook as data. Each check stays `skipped` with 0 points
until the TA's manual grades are merged into the report.
"""

from __future__ import annotations

from ..messages import text
from ..notebook.answers import QUESTIONS, find_answer
from ..notebook.cells import NotebookError, load_cells
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest


class AnswersGroup(CheckGroup):
    group = "answers"

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return [f"answers/q{q}" for q in QUESTIONS]

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        return []

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        if ctx.notebook is None:
            return self.not_run(ctx, text("提交中没有找到 notebook", "no notebook found in the submission"))
        try:
            cells = load_cells(ctx.notebook)
        except NotebookError as exc:
            return self.not_run(ctx, text(f"notebook 无法读取：{exc}", f"the notebook cannot be read: {exc}"))
        results = []
        for q, question in QUESTIONS.items():
            cid = f"answers/q{q}"
            answer = find_answer(cells, q)
            if answer.cell is None:
                why = text(f"没有找到 Q{q} 的答案（标签 q{q}-answer 或标题 “Answer (Q{q})” 的单元）",
                           f"no answer to Q{q} found (no markdown cell tagged q{q}-answer or headed "
                           f"'Answer (Q{q})')")
            elif answer.blank:
                why = text(f"Q{q} 的答案是空的", f"the answer to Q{q} is blank")
            else:
                why = text("等待助教评分", "awaiting grading by a TA")
            results.append(CheckResult.make(cid, "skipped", ctx.points(cid), why, score=0.0,
                                            question=question.both(), answer=answer.markdown,
                                            cell=answer.cell, found_by=answer.found_by))
        return results
