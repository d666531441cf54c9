"""The written answers (Q1, Q4, Q5): found in either kit's layout, from the pristine copy, for a TA to grade."""

from __future__ import annotations

import nbformat
import pytest

from grader.checks.answers import AnswersGroup
from grader.checks.base import CheckContext
from grader.rubric import load

from . import kit2019
from .conftest import by_id


def _notebook(path, cells) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, path)


def test_the_solutions_answers_are_collected_and_left_for_the_ta(submission, run_group):
    root = submission()
    checks = by_id(run_group(AnswersGroup(), root, notebook=root / "Assignment.ipynb"))
    assert list(checks) == ["answers/q1", "answers/q4", "answers/q5"]
    for check in checks.values():
        assert check.status == "skipped" and check.score == 0 and check.max_score > 0
        assert check.details["found_by"] == "tag"
        assert check.details["question"]
        assert "Answer (Q" not in check.details["answer"]
    assert "B×H×W×C" in checks["answers/q1"].details["answer"]
    assert "sigmoid" in checks["answers/q4"].details["answer"]


def test_answers_without_tags_are_found_by_heading_or_reported_missing(tmp_path, run_group):
    path = tmp_path / "Assignment.ipynb"
    _notebook(path, [nbformat.v4.new_markdown_cell("**答案 / Answer (Q4)**\n\nThe sigmoid, then 0.5."),
                     nbformat.v4.new_markdown_cell("**Answer (Q5)**\n\n<!-- write here -->\n"),
                     nbformat.v4.new_code_cell("print('Answer (Q1)')")])
    checks = by_id(run_group(AnswersGroup(), tmp_path, notebook=path))
    assert checks["answers/q4"].details["answer"] == "The sigmoid, then 0.5."
    assert checks["answers/q4"].details["found_by"] == "heading"
    assert "unanswered" in checks["answers/q5"].message and checks["answers/q5"].details["answered"] is False
    assert checks["answers/q1"].details["cell"] is None
    assert "no answer to Q1 found" in checks["answers/q1"].message


def test_a_submission_without_notebook_skips_the_answers(submission, run_group):
    checks = run_group(AnswersGroup(), submission(), notebook=None)
    assert [c.status for c in checks] == ["skipped"] * 3
    assert all("no notebook" in c.message for c in checks)


def _cells(*sources: str) -> list:
    md = nbformat.v4.new_markdown_cell
    return [md(s) for s in sources]


def _grade(tmp_path, run_group, cells) -> dict:
    path = tmp_path / "week7.ipynb"
    _notebook(path, cells)
    return by_id(run_group(AnswersGroup(), tmp_path, notebook=path))


def test_the_original_kits_answers_are_found_in_its_own_layout(tmp_path, run_group):
    nb = kit2019.notebook()
    checks = _grade(tmp_path, run_group, nb.cells)
    q1, q4, q5 = checks["answers/q1"], checks["answers/q4"], checks["answers/q5"]
    assert (q1.details["found_by"], q4.details["found_by"], q5.details["found_by"]) == \
        ("numbered", "numbered", "after-question")
    for check, text in ((q1, kit2019.ANSWER_1), (q4, kit2019.ANSWER_4), (q5, kit2019.ANSWER_5)):
        number = kit2019.find(nb, text) + 1
        assert check.details["cell_number"] == number and f"cell {number}" in check.message
        assert check.details["answered"] is True and check.status == "skipped" and check.score == 0
    assert q1.details["answer"].startswith("The arrays are B×H×W×C")
    assert q4.details["answer"].startswith("The net gives a logit") and "####" not in q4.details["answer"]
    assert q5.details["answer"].startswith("Discs whose gray level")


@pytest.mark.parametrize("cell, found_by", [
    ("Answer 4：sigmoid, then 0.5", "numbered"),
    ("Answer 4: sigmoid, then 0.5", "numbered"),
    ("**Answer 4：** sigmoid, then 0.5", "numbered"),
    ("#### Answer 4\n\nsigmoid, then 0.5", "numbered"),
    ("**答案 / Answer (Q4)**\n\nsigmoid, then 0.5", "heading"),
    ("Answer：sigmoid, then 0.5", "after-question"),
    ("### Answer\nsigmoid, then 0.5", "after-question"),
])
def test_every_layout_of_an_answer_is_found(tmp_path, run_group, cell, found_by):
    checks = _grade(tmp_path, run_group, _cells("### ★★★ Question 3\n\nJaccard.", "Answer：（双击此处输入答案）",
                                                "### ★★★ Question 4\n\nHow?", cell, "### ★★★ Question 5"))
    q4 = checks["answers/q4"]
    assert (q4.details["found_by"], q4.details["answer"], q4.details["cell_number"]) == \
        (found_by, "sigmoid, then 0.5", 4)


def test_a_tagged_cell_wins_over_any_heading(tmp_path, run_group):
    tagged = nbformat.v4.new_markdown_cell("My answer: sigmoid.", metadata={"tags": ["q4-answer"]})
    path = tmp_path / "week7.ipynb"
    _notebook(path, [*_cells("### ★★★ Question 4", "Answer 4：something else"), tagged])
    q4 = by_id(run_group(AnswersGroup(), tmp_path, notebook=path))["answers/q4"]
    assert (q4.details["found_by"], q4.details["answer"], q4.details["cell_number"]) == \
        ("tag", "My answer: sigmoid.", 3)


@pytest.mark.parametrize("placeholder", ["Answer 5：（双击此处输入答案）", "Answer：（双击此处输入答案）",
                                         "Answer 5: (双击此处输入答案)", "Answer 5：", "#### Answer 5\n\n  \n"])
def test_the_kits_placeholder_or_nothing_is_unanswered_not_missing(tmp_path, run_group, placeholder):
    checks = _grade(tmp_path, run_group, _cells("### ★★★ Question 5\n\nWhy?", placeholder))
    q5 = checks["answers/q5"]
    assert q5.details["cell_number"] == 2 and q5.details["answered"] is False
    assert "Q5 is unanswered: cell 2" in q5.message and "未作答" in q5.message
    assert "no answer to Q4 found" in checks["answers/q4"].message  # missing, which is not the same


def test_unnumbered_answers_to_ungraded_questions_are_not_taken(tmp_path, run_group):
    nb = kit2019.notebook()
    for text in (kit2019.ANSWER_4, kit2019.ANSWER_5):
        del nb.cells[kit2019.find(nb, text)]
    checks = _grade(tmp_path, run_group, nb.cells)
    for q in (4, 5):
        check = checks[f"answers/q{q}"]
        assert check.details["cell"] is None and check.details["answer"] == "", check.details
        assert f"no answer to Q{q} found" in check.message
    # the answers after Question 3, 6 and the add section stay theirs
    assert checks["answers/q1"].details["found_by"] == "numbered"


def test_answers_come_from_the_pristine_copy_not_the_box(tmp_path):
    box, pristine = tmp_path / "box.ipynb", tmp_path / "pristine.ipynb"
    _notebook(pristine, _cells("### ★★★ Question 1", "Answer 1：my own words"))
    _notebook(box, _cells("### ★★★ Question 1", "Answer 1：my own words"))
    ctx = CheckContext(submission_dir=tmp_path, notebook=box, seed=1, profile="cpu", rubric=load(),
                       io_root=tmp_path / "io", artifacts_dir=tmp_path / "artifacts", pristine_notebook=pristine)
    group = AnswersGroup()
    assert group.prepare(ctx) == []
    _notebook(box, _cells("### ★★★ Question 1", "Answer 1：a classmate's words"))  # student code, in the box
    _notebook(pristine, _cells("Answer 1：read too late"))  # and judge does not read the file again
    q1 = by_id(group.judge(ctx, {}))["answers/q1"]
    assert q1.details["answer"] == "my own words"
