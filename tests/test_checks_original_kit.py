"""Hand-ins built on the course's 2019 kit get every function point; misplaced or missing work fails.

The fixture (tests/fixtures/original_kit/Week 7/, variants in original_kit_variants/) follows that kit's
conventions as FACTS.md describes them: old-style `torch.autograd.Function` Dice and Jaccard classes, an
`up` that crops or pads x2 by the size difference and an `up_add` copied from it, an untagged notebook.
Each hand-in is graded once by all five function groups (see test_checks_unet_shallow).
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from pathlib import Path

import pytest
import torch

from grader.runner.stages.jaccard import instance
from tests.conftest import build_original_kit, by_id, run_group_direct
from tests.test_checks_unet_shallow import WARM_RUNNER, AllGroups, assert_breaks, assert_full_marks


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """`graded(variant, removed=(), public_only=False)` -> {check id: CheckResult}, once per module."""
    root = tmp_path_factory.mktemp("original")
    cache: dict[tuple, dict] = {}

    def grade(variant: str | None, removed: tuple[str, ...] = (), public_only: bool = False) -> dict:
        key = (variant, removed, public_only)
        if key not in cache:
            work = root / f"{variant}-{len(cache)}"
            sub = build_original_kit(work, variant)
            for rel in removed:
                (sub / rel).unlink()
            notebook = sub / "Assignment.ipynb"
            cache[key] = by_id(run_group_direct(AllGroups(), sub, work / "run", seed=1234, public_only=public_only,
                                                notebook=notebook if notebook.exists() else None,
                                                launch=WARM_RUNNER))
        return cache[key]

    return grade


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"kit_{path.parent.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("variant, dtype", [(None, torch.float32), ("float64_eps", torch.float64)])
def test_the_fixtures_jaccard_is_an_old_style_function_returning_its_own_dtype(tmp_path, variant, dtype):
    """What the grading tests below rely on: the fixture really is written the 2019 way."""
    kit = _module(build_original_kit(tmp_path, variant) / "unet" / "dice_loss.py")
    for cls in (kit.DiceCoeff, kit.JaccardCoeff):
        assert issubclass(cls, torch.autograd.Function) and "forward" in vars(cls)
        assert "self.save_for_backward(input, target)" in inspect.getsource(cls.forward)
        assert "Dice" in cls.__doc__
    eye = torch.eye(3, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        jac = kit.JaccardCoeff()
        value = jac.forward(eye, torch.ones(3, 3, dtype=torch.float64))
        with pytest.raises(RuntimeError, match="Legacy autograd function"):
            jac(eye, eye)  # calling the instance raises in torch 2.x, which is why the notebook calls .forward
    assert value.dtype == dtype and float(value) == pytest.approx(1 / 3, rel=1e-4)
    assert float(jac.inter) == 3  # the kit keeps its intermediate values on the instance


@pytest.mark.parametrize("variant", [None, "float64_eps", "shallow_64_128_256"])
def test_a_correct_original_kit_hand_in_gets_every_function_point(graded, variant):
    results = graded(variant)
    assert_full_marks(results)
    assert all(r.status == "passed" for r in results.values())


def test_the_self_checks_public_cases_pass_an_original_kit_hand_in(graded):
    assert_full_marks(graded(None, public_only=True))


@pytest.mark.parametrize("variant, groups, cid, kit_place, student_place", [
    ("misplaced_dice", {"jaccard"}, "jaccard/hidden-masks", "unet/dice_loss.py", "dice_loss.py"),
    ("misplaced_model", {"unet_shallow", "unet_add"}, "unet_add/structure", "unet/unet_model.py", "unet_model.py"),
])
def test_a_lab_file_in_the_wrong_place_fails_and_says_where_it_was_found(graded, variant, groups, cid, kit_place,
                                                                         student_place):
    results = graded(variant)
    failing = {c: f"found at {student_place}, expected at {kit_place}"
               for c in results if c.split("/")[0] in groups}
    assert_breaks(results, groups, failing)
    assert all(results[c].score == 0 for c in failing)
    zh = results[cid].messages["zh"]
    assert f"缺少 {kit_place}" in zh and f"在 {student_place} 找到" in zh


def test_a_missing_lab_file_is_a_failure_that_names_it(graded):
    results = graded(None, removed=("unet/unet_parts.py",))
    failing = {c: "unet/unet_parts.py is missing: the submission has no such file"
               for c in results if c.split("/")[0] in ("up_add", "unet_shallow", "unet_add")}
    assert_breaks(results, {"up_add", "unet_shallow", "unet_add"}, failing)


def test_a_missing_notebook_fails_deconv2d_and_says_so(graded):
    results = graded(None, removed=("Assignment.ipynb",))
    failing = {c: "no notebook found: deconv2d (Q7) is written in the notebook"
               for c in results if c.startswith("deconv2d/")}
    assert_breaks(results, {"deconv2d"}, failing)
    assert all(results[c].score == 0 for c in failing)


class _OldStyle(torch.autograd.Function):
    """Dice coeff for individual examples"""

    def forward(self, input, target):
        self.save_for_backward(input, target)
        self.inter = torch.dot(input.view(-1), target.view(-1))
        return (self.inter + 1e-4) / (input.sum() + target.sum() - self.inter + 1e-4)


def test_the_stage_calls_an_old_style_function_where_warnings_are_errors():
    eye = torch.eye(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(instance(_OldStyle).forward(eye, eye)) == pytest.approx(1.0)


def test_the_stage_still_calls_forward_should_instantiating_a_function_raise(monkeypatch):
    """torch says instantiating will raise 'in a future version': the student's forward must still run."""
    def refuse(self, *args, **kwargs):
        raise RuntimeError("should not be instantiated")

    monkeypatch.setattr(torch.autograd.Function, "__init__", refuse)
    ones = torch.ones(2, 2)
    assert float(instance(_OldStyle).forward(ones, ones)) == pytest.approx(1.0)

    class OwnInit(_OldStyle):
        def __init__(self):
            super().__init__()

    with pytest.raises(RuntimeError, match="should not be instantiated"):
        instance(OwnInit)  # a class with its own __init__ is not second-guessed
