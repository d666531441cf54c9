"""Find the answers to the written questions (Q1, Q4, Q5) in a notebook's markdown cells."""

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


@dataclass(frozen=True)
class Answer:
    question: int
    cell: int | None
    found_by: str | None  # "tag" | "heading" | None
    markdown: str

    @property
    def blank(self) -> bool:
        return not COMMENT.sub("", self.markdown).strip()


def _body(source: str) -> str:
    """The cell without its "**答案 / Answer (Qn)**" heading line."""
    lines = source.strip().splitlines()
    if lines and HEADING.search(lines[0]):
        lines = lines[1:]
    return "\n".join(lines).strip()


def find_answer(cells: list[Cell], question: int) -> Answer:
    """The cell tagged `q<n>-answer`, else the markdown cell headed "Answer (Q<n>)", else not found."""
    markdown = [c for c in cells if c.kind == "markdown"]
    by_tag = tagged(markdown, f"q{question}-answer")
    if by_tag:
        return Answer(question, by_tag[0].index, "tag", _body(by_tag[0].source))
    for cell in markdown:
        match = HEADING.search(cell.source)
        if match and int(match.group(1)) == question:
            return Answer(question, cell.index, "heading", _body(cell.source))
    return Answer(question, None, None, "")
