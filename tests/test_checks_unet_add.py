"""UNet_add checks on fixture submissions, graded by all five groups at once (test_checks_unet_shallow)."""

from __future__ import annotations

import pytest

from grader.checks.unet_add import UNetAddGroup
from tests.test_checks_unet_shallow import assert_breaks, assert_full_marks, context, grading, lost


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grading(tmp_path_factory.mktemp("graded"))


@pytest.mark.parametrize("fixture", [None, "unet_add_module_lists"])
def test_correct_unet_adds_get_full_marks(graded, fixture):
    results = graded(fixture)
    assert_full_marks(results)
    levels = [c for c in results["unet_add/structure"].details["cases"] if c["name"].startswith("level-")]
    assert len(levels) == 4 and all(c["skip_gradient"] > 0 for c in levels)


def test_a_concatenating_decoder_fails_unet_add_even_though_it_runs(graded):
    results = graded("unet_add_from_up")
    assert_breaks(results, {"unet_add"}, {"unet_add/structure": "the decoder concatenates maps at 16x16"})
    assert set(lost(results)) == {"unet_add/structure"}
    cases = {c["name"]: c for c in results["unet_add/structure"].details["cases"]}
    assert cases["depth"]["ok"] and not any(c["ok"] for n, c in cases.items() if n.startswith("level-"))


def test_the_unfilled_skeleton_fails_with_a_clear_message(graded):
    results = graded("unet_add_skeleton")
    failing = {cid: "UNet_add(1, 2) is not implemented yet"
               for cid in ("unet_add/output-shape", "unet_add/structure")}
    assert_breaks(results, {"unet_add"}, failing, status="error")


def test_hidden_shapes_follow_the_seed(tmp_path):
    group = UNetAddGroup()
    shapes = {seed: group._shapes(context(tmp_path, seed)) for seed in range(1, 6)}
    assert shapes[1] == group._shapes(context(tmp_path, 1))
    assert len({tuple(s.values()) for s in shapes.values()}) > 1
    assert all(v[2] % 16 == 0 and v[3] % 16 == 0 for s in shapes.values() for v in s.values())
