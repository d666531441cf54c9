"""Answers: the written questions Q1, Q4 and Q5, collected from the notebook for a TA to grade by hand.

Nothing runs: the parent reads the notebook as data, from the grader's own pristine copy from intake
(`CheckContext.pristine_notebook`), and before any stage has run, so student code that rewrites the box's
copy cannot change what the TA reads. Each check stays `skipped` with 0 points until the TA's manual grades
are merged into the report.
"""

from __future__ import annotations

from pathlib import Path

from ..messages import Text, text
from ..notebook.answers import QUESTIONS, Answer, find_answer
from ..notebook.cells import Cell, NotebookError, load_cells
from ..results import CheckResult
from .base import CheckContext, CheckGroup, StageOutputs, StageRequest

HOW_FOUND = {"tag": "tagged q{q}-answer", "heading": "headed 'Answer (Q{q})'", "numbered": "beginning 'Answer {q}：'",
             "after-question": "the 'Answer：' cell after '★★★ Question {q}'"}


class AnswersGroup(CheckGroup):
    group = "answers"

    def __init__(self) -> None:
        self.cells: list[Cell] | None = None
        self.problem: Text | None = None

    def check_ids(self, ctx: CheckContext) -> list[str]:
        return [f"answers/q{q}" for q in QUESTIONS]

    def prepare(self, ctx: CheckContext) -> list[StageRequest]:
        source: Path | None = ctx.pristine_notebook or ctx.notebook
        if source is None:
            self.problem = text("提交中没有找到 notebook", "no notebook found in the submission")
            return []
        try:
            self.cells = load_cells(source)
        except NotebookError as exc:
            self.problem = text(f"notebook 无法读取：{exc}", f"the notebook cannot be read: {exc}")
        return []

    def judge(self, ctx: CheckContext, outputs: dict[str, StageOutputs]) -> list[CheckResult]:
        if self.cells is None:
            return self.not_run(ctx, self.problem or text("notebook 没有读取", "the notebook was not read"))
        results = []
        for q, question in QUESTIONS.items():
            cid = f"answers/q{q}"
            answer = find_answer(self.cells, q)
            results.append(CheckResult.make(cid, "skipped", ctx.points(cid), _message(answer), score=0.0,
                                            question=question.both(), answer=answer.markdown, cell=answer.cell,
                                            cell_number=answer.cell_number, found_by=answer.found_by,
                                            answered=answer.cell is not None and not answer.blank))
        return results


def _message(answer: Answer) -> Text:
    q = answer.question
    if answer.cell is None:
        return text(f"没有找到 Q{q} 的答案：没有标签 q{q}-answer、标题 “Answer (Q{q})” 或 “Answer {q}：” 的单元，"
                    f"“★★★ Question {q}” 之后也没有 “Answer：” 单元",
                    f"no answer to Q{q} found: no markdown cell tagged q{q}-answer, headed 'Answer (Q{q})' or "
                    f"'Answer {q}：', and no 'Answer：' cell after '★★★ Question {q}'")
    where = HOW_FOUND[answer.found_by or "tag"].format(q=q)
    n = answer.cell_number
    if answer.blank:
        return text(f"Q{q} 未作答：第 {n} 个单元是空的或只有占位文字（双击此处输入答案）",
                    f"Q{q} is unanswered: cell {n} ({where}) is empty or holds only the placeholder")
    return text(f"等待助教评分（答案取自第 {n} 个单元）",
                f"awaiting grading by a TA (answer taken from cell {n}, {where})")
