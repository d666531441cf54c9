"""The written answers (Q1, Q4, Q5): found by tag, else by heading, for a TA to grade."""

from __future__ import annotations

import nbformat

from grader.checks.answers import AnswersGroup

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
