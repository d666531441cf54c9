"""Find the answers to the written questions (Q1, Q4, Q5) in a notebook's markdown cells, in either kit's layout.

Our kit tags the answer cell (`q1-answer`) and heads it "**答案 / Answer (Q1)**". The course's original kit
has no tags: each `★★★ Question N` cell is followed by a cell that begins `Answer N：` (full- or half-width
colon), or just `Answer：`; students sometimes re-head it (`#### Answer 4`). Its placeholder
`（双击此处输入答案）` ("double-click to type your answer") means the question was not answered. Unnumbered
answers belong to the question cell they follow, so those of questions without points are never taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..messages import Text, text
from .cells import Cell, tagged

QUESTIONS: dict[int, Text] = {
    1: text("数据的布局（B×H×W×C 还是 B×C×H×W）、灰度还是彩色、标签两个通道的含义",
            "the data layout (B×H×W×C or B×C×H×W), gray or colour, and what the label's two channels mean"),
    4: text("网络的输出（logits）怎样变成分割结果",
            "how the network's output (logits) becomes a segmentation"),
    5: text("为什么有些图片预测得不好", "why some images are predicted badly"),
}
HEADING = re.compile(r"Answer\s*[(（]\s*Q\s*(\d+)\s*[)）]", re.IGNORECASE)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
PLACEHOLDER = re.compile(r"[(（]?\s*双击此处输入答案\s*[)）]?")
# A cell's first line: "Answer 1：", "Answer:", "#### Answer 4", "**Answer 5：**" (`\d` takes full-width digits
# too); a colon or the line's end must follow, so prose such as "Answers vary" is no heading.
LEAD = re.compile(r"^[\s#>*_]*(?:Answer|答案)\s*(?:Q\s*)?(\d+)?\s*[*_]*\s*(?:[:：]|$)\s*[*_]*\s*", re.IGNORECASE)
QUESTION = re.compile(r"★+\s*[*_]*\s*Question\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    question: int
    cell: int | None  # 0-based index in the notebook's cells
    found_by: str | None  # "tag" | "heading" | "numbered" | "after-question" | None
    markdown: str

    @property
    def cell_number(self) -> int | None:
        """The cell's 1-based position in the notebook, as a TA counts it."""
        return None if self.cell is None else self.cell + 1

    @property
    def blank(self) -> bool:
        """Empty, only comments, or the kit's placeholder."""
        return not PLACEHOLDER.sub("", COMMENT.sub("", self.markdown)).strip()


def _body(source: str) -> str:
    """The cell without its "**答案 / Answer (Qn)**" heading line."""
    lines = source.strip().splitlines()
    if lines and HEADING.search(lines[0]):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _lead(source: str) -> tuple[bool, int | None, str]:
    """Whether the cell begins with an answer heading, its number if any, and the text after the heading."""
    lines = source.strip().splitlines()
    match = LEAD.match(lines[0]) if lines else None
    if match is None:
        return False, None, ""
    body = "\n".join([lines[0][match.end():], *lines[1:]]).strip()
    return True, int(match.group(1)) if match.group(1) else None, body


def _question(cell: Cell) -> int | None:
    match = QUESTION.search(cell.source) if cell.kind == "markdown" else None
    return int(match.group(1)) if match else None


def find_answer(cells: list[Cell], question: int) -> Answer:
    """The cell tagged `q<n>-answer`, else headed "Answer (Q<n>)", else beginning "Answer <n>：", else the first
    unnumbered "Answer：" cell after the `★ Question <n>` cell (before the next question); else not found."""
    markdown = [c for c in cells if c.kind == "markdown"]
    by_tag = tagged(markdown, f"q{question}-answer")
    if by_tag:
        return Answer(question, by_tag[0].index, "tag", _body(by_tag[0].source))
    for cell in markdown:
        match = HEADING.search(cell.source)
        if match and int(match.group(1)) == question:
            return Answer(question, cell.index, "heading", _body(cell.source))
    for cell in markdown:
        headed, number, body = _lead(cell.source)
        if headed and number == question:
            return Answer(question, cell.index, "numbered", body)
    after = False
    for cell in cells:
        asked = _question(cell)
        if asked is not None:
            after = asked == question
            continue
        if after and cell.kind == "markdown":
            headed, number, body = _lead(cell.source)
            if headed and number is None:
                return Answer(question, cell.index, "after-question", body)
    return Answer(question, None, None, "")
