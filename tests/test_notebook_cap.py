"""The training-budget cap: assignments to epochs/steps/batch_size/num_validation are bounded, as text."""

from __future__ import annotations

import ast
import sys

import nbformat
import pytest

from grader.notebook.cap import Uncappable, cap_cells, cap_source
from grader.notebook.execute import capped_copy

from .conftest import SOLUTION

CAPS = {"epochs": 1, "steps": 2, "batch_size": 2, "num_validation": 1}


@pytest.mark.parametrize("before, after", [
    ("epochs = 5", "epochs = 1"),
    ("epochs=5", "epochs=1"),
    ("epochs = 5 # 五轮 / five rounds", "epochs = 1 # 五轮 / five rounds"),
    ("epochs, steps = 5, 50", "epochs, steps = 1, 2"),
    ("(epochs, steps) = [500, 1000]", "(epochs, steps) = [1, 2]"),
    ("steps: int = 1000", "steps: int = 2"),
    ("epochs = n * 2", "epochs = min(n * 2, 1)"),
    ("epochs = steps = 100", "epochs = steps = 1"),
    ("a = '中文'; epochs = 500; b = 3", "a = '中文'; epochs = 1; b = 3"),
    ("train(net, epochs=5, batch_size=bs)", "train(net, epochs=1, batch_size=min(bs, 2))"),
    ("def train(net, epochs=5, *, num_validation=50):\n    pass",
     "def train(net, epochs=1, *, num_validation=1):\n    pass"),
    ("for e in range(3):\n    steps = 100\n", "for e in range(3):\n    steps = 2\n"),
    ("%matplotlib inline\nepochs = 5", "%matplotlib inline\nepochs = 1"),
    ("epochs, steps = budget()  # tuned\nrun()",
     "epochs, steps = budget()  # tuned\nepochs = min(epochs, 1)\nsteps = min(steps, 2)\nrun()"),
])
def test_assignments_are_bounded(before, after):
    assert cap_source(before, CAPS)[0] == after


@pytest.mark.parametrize("source", [
    "epochs = 1",                    # already within the cap
    "batch_size = 0",
    "n_epochs = 500",                # another name
    "epochs = 5 +",                  # does not parse: left alone
    "if fast: epochs, steps = g()",  # a tuple from an expression that shares its line
])
def test_cells_left_alone(source):
    assert cap_source(source, CAPS) == (source, [])


def test_nested_bounds_do_not_overlap():
    new, changes = cap_source("steps = f(steps=100)", CAPS)
    assert new == "steps = min(f(steps=100), 2)"
    assert [c[0] for c in changes] == ["steps"]


def test_the_solution_notebook_is_capped_and_still_parses(tmp_path):
    dest = tmp_path / "capped.ipynb"
    capped = capped_copy(SOLUTION / "Assignment.ipynb", CAPS, dest)
    assert {r.name for r in capped.rewrites} == set(CAPS) and capped.uncapped == {}
    written = nbformat.read(dest, as_version=4)
    for cell in written.cells:
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [] and cell.execution_count is None
        if "train-unet" in cell.metadata.get("tags", []):
            values = {t.id: n.value.value for n in ast.parse(cell.source).body if isinstance(n, ast.Assign)
                      for t in n.targets if isinstance(t, ast.Name)}
            assert values == CAPS


def test_a_thousand_minus_signs_are_capped_without_recursion():
    deep = "epochs = " + "-" * 1000 + "5"
    new, changes = cap_source(deep, CAPS)
    assert new == "epochs = min(" + "-" * 1000 + "5, 1)"
    assert [c[0] for c in changes] == ["epochs"]


def test_a_cell_too_deep_for_the_parser_is_reported_not_raised():
    source = "epochs = " + "-" * 5000 + "5"
    with pytest.raises(Uncappable):
        cap_source(source, CAPS)
    changed, rewrites, uncapped = cap_cells([(0, source), (3, "epochs = 5")], CAPS)
    assert changed == {3: "epochs = 1"} and [r.cell for r in rewrites] == [3]
    assert list(uncapped) == [0] and uncapped[0]


def test_a_raised_recursion_limit_does_not_change_what_caps():
    """Libraries in the grader's process raise the limit; the same cell must stay Uncappable there."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(Uncappable):
            cap_source("epochs = " + "-" * 5000 + "5", CAPS)
        assert sys.getrecursionlimit() == 100_000
    finally:
        sys.setrecursionlimit(old)
