"""The Jaccard check (Q3): accepts correct formulations, explains each typical mistake."""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks.jaccard import JaccardGroup, jaccard
from tests.conftest import by_id

IDS = ["jaccard/notebook-cases", "jaccard/hidden-masks", "jaccard/empty-masks", "jaccard/batch"]


def test_reference_values_match_the_notebook():
    eye, ones, zeros = np.eye(3), np.ones((3, 3)), np.zeros((3, 3))
    assert jaccard(eye, eye) == pytest.approx(1.0)
    assert jaccard(eye, ones) == pytest.approx(1 / 3, rel=1e-4)
    assert jaccard(zeros, ones) == pytest.approx(1.1111e-05, rel=1e-4)
    assert jaccard(zeros, zeros) == pytest.approx(1.0)


@pytest.mark.parametrize("fixture", [None, "jaccard_minmax", "jaccard_item_module", "syntax_error_model"])
def test_correct_jaccard_gets_full_marks(fixture, submission, run_group):
    checks = by_id(run_group(JaccardGroup(), submission(fixture)))
    assert sorted(checks) == sorted(IDS)
    for cid in IDS:
        assert checks[cid].status == "passed", checks[cid].message
        assert checks[cid].score == checks[cid].max_score > 0


def test_dice_formula_fails_with_a_hint(submission, run_group):
    checks = by_id(run_group(JaccardGroup(), submission("jaccard_dice")))
    hidden = checks["jaccard/hidden-masks"]
    assert hidden.status == "failed" and hidden.score < hidden.max_score
    assert "Dice" in hidden.messages["en"] and "Dice" in hidden.messages["zh"]
    first_bad = next(c for c in hidden.details["cases"] if not c["ok"])
    assert first_bad["comparison"]["match"] is False
    assert first_bad["inputs"]["input_shape"]


def test_unfilled_skeleton_is_an_error_not_a_traceback(submission, run_group):
    files = {"unet/dice_loss.py.append": (
        "class JaccardCoeff:\n    def forward(self, input, target):\n"
        "        raise NotImplementedError('TODO')\n")}
    checks = by_id(run_group(JaccardGroup(), submission(files=files)))
    case = checks["jaccard/notebook-cases"]
    assert case.status == "failed" and case.score == 0
    assert "NotImplementedError" in case.messages["en"]
    assert "dice_loss.py" in case.messages["en"]


def test_missing_class_costs_only_jaccard(submission, run_group):
    files = {"unet/dice_loss.py": "import torch\n"}
    checks = by_id(run_group(JaccardGroup(), submission(files=files)))
    assert {c.status for c in checks.values()} == {"error"}
    assert "JaccardCoeff" in checks["jaccard/batch"].messages["en"]


def test_monkeypatched_comparisons_do_not_help(submission, run_group):
    checks = by_id(run_group(JaccardGroup(), submission("monkeypatch_compare")))
    assert all(c.status == "failed" for c in checks.values())
    assert sum(c.score for c in checks.values()) == 0


def test_exit_in_the_middle_keeps_the_cases_before_it(submission, run_group):
    checks = by_id(run_group(JaccardGroup(), submission("exit_mid_check")))
    notebook = checks["jaccard/notebook-cases"]
    assert notebook.status == "failed"
    assert 0 < notebook.score < notebook.max_score  # two of four notebook cases ran before the exit
    assert "no output" in notebook.messages["en"]


def test_hidden_cases_depend_on_the_seed(tmp_path):
    from grader.checks.jaccard import _hidden_cases

    a = _hidden_cases(np.random.default_rng([1]))["jaccard/hidden-masks"]["mask-0"][0]
    b = _hidden_cases(np.random.default_rng([1]))["jaccard/hidden-masks"]["mask-0"][0]
    c = _hidden_cases(np.random.default_rng([2]))["jaccard/hidden-masks"]["mask-0"][0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
