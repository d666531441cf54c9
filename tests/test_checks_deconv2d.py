"""deconv2d (Q7) checks: extraction from the notebook, the numpy-only rule, and fixture submissions.

Fixtures replace single notebook cells (`Assignment.ipynb.cells/<tag>.py`); they are graded by all five
groups at once (test_checks_unet_shallow), so each one also shows that the other groups are unaffected.
"""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest

from grader.checks.deconv2d import (
    EXAMPLE_INPUT,
    EXAMPLE_WEIGHTS,
    Deconv2dGroup,
    _diagnose,
    expected,
    framework_uses,
)
from grader.notebook.cells import Cell
from grader.notebook.extract import extract
from tests.conftest import SOLUTION, build_submission, by_id, run_group_direct
from tests.test_checks_unet_shallow import (
    WARM_RUNNER,
    assert_breaks,
    assert_full_marks,
    context,
    grading,
    lost,
)

# FACTS.md: the example's result is (2, 5, 5) and its first channel begins with these rows
EXAMPLE_FIRST_ROWS = [[3, 3, 2, 7, 5], [6, 8, 5, 11, 2]]
CELLS = json.loads((SOLUTION / "Assignment.ipynb").read_text(encoding="utf-8"))["cells"]


def cell_tagged(tag: str) -> int:
    return next(i for i, c in enumerate(CELLS) if tag in c["metadata"].get("tags", []))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grading(tmp_path_factory.mktemp("graded"))


def code(index: int, source: str) -> Cell:
    return Cell(index, "code", source)


@pytest.mark.parametrize("fixture", [None, "deconv_kron", "deconv_einsum", "deconv_scatter_loops"])
def test_correct_deconv2ds_get_full_marks(graded, fixture):
    assert_full_marks(graded(fixture))


@pytest.mark.parametrize("fixture", ["deconv_unrelated_syntax_error", "deconv_missing_package"])
def test_an_unrelated_broken_cell_does_not_hide_deconv2d(graded, fixture):
    results = graded(fixture)
    assert_full_marks(results)
    notebook = results["deconv2d/hidden-cases"].details["notebook"]
    plot = cell_tagged("q2-loss-plot")
    assert notebook["unparsed_cells"] == ([{"cell": plot, "error": "line 1: '(' was never closed"}]
                                          if fixture == "deconv_unrelated_syntax_error" else [])
    assert not any("seaborn" in d or "torch" in d for d in notebook["definitions"])


@pytest.mark.parametrize("fixture, phrase, example_ok", [
    ("deconv_no_crop", "not cropped: it returns the whole", False),
    ("deconv_off_by_one", "the crop is off by one", False),
    ("deconv_hard_coded", "the notebook example's answer whatever the input", True),
])
def test_each_wrong_result_is_named(graded, fixture, phrase, example_ok):
    results = graded(fixture)
    failing = {"deconv2d/hidden-cases": phrase}
    if not example_ok:
        failing["deconv2d/notebook-example"] = phrase.split(":")[0]
    assert_breaks(results, {"deconv2d"}, failing)
    assert set(lost(results)) == set(failing)
    assert results["deconv2d/hidden-cases"].score == 0


@pytest.mark.parametrize("fixture, where", [
    ("deconv_torch_inside", f"cell {cell_tagged('q7-deconv2d')}, line 2: import torch"),
    ("deconv_torch_global", f"cell {cell_tagged('q7-deconv2d')}, line 3: torch"),
    ("deconv_torch_importlib", "import torch"),
])
def test_reaching_torch_fails_however_it_is_reached(graded, fixture, where):
    results = graded(fixture)
    assert_breaks(results, {"deconv2d"}, {
        "deconv2d/numpy-only": f"deconv2d reaches a deep-learning framework ({where}",
        "deconv2d/notebook-example": "numpy only",
    })
    details = results["deconv2d/numpy-only"].details
    assert "torch" in details["blocked_imports"]
    assert any("ImportError" in e for e in details["notebook"]["definition_errors"]) is (
        fixture == "deconv_torch_global")


def test_the_grader_holds_the_kits_example_and_facts_agree():
    cell = CELLS[cell_tagged("q7-deconv-example")]
    ns: dict = {"np": np}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign):
            exec(compile(ast.Module([node], []), "<example>", "exec"), ns)
    np.testing.assert_array_equal(EXAMPLE_INPUT, ns["deconv_input"])
    np.testing.assert_array_equal(EXAMPLE_WEIGHTS, ns["deconv_weights"])
    result = expected(EXAMPLE_INPUT, EXAMPLE_WEIGHTS)
    assert result.shape == (2, 5, 5)
    np.testing.assert_array_equal(result[0, :2], EXAMPLE_FIRST_ROWS)


def test_hidden_cases_follow_the_seed_and_cover_the_edges(tmp_path):
    group = Deconv2dGroup()

    def hidden(seed, public=False):
        return group._cases(context(tmp_path, seed, public))["deconv2d/hidden-cases"]

    a, b = hidden(1), hidden(2)
    assert all(np.array_equal(a[k][0], v[0]) and np.array_equal(a[k][1], v[1]) for k, v in hidden(1).items())
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a.values(), b.values(), strict=True))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(hidden(1, True).values(), hidden(2, True).values(),
                                                           strict=True))
    shapes = [(x.shape, w.shape) for x, w in a.values()]
    assert ((1, 1, 1), (1, 1, 3, 3)) in shapes
    assert any(x[1] != x[2] for x, _ in shapes) and len({w[:2] for _, w in shapes}) > 2


def test_the_same_seed_gives_the_same_result(tmp_path):
    sub = build_submission(tmp_path, "deconv_off_by_one")
    runs = [by_id(run_group_direct(Deconv2dGroup(), sub, tmp_path / f"run{i}", seed=99, launch=WARM_RUNNER,
                                   notebook=sub / "Assignment.ipynb")) for i in range(2)]
    assert runs[0] == runs[1]
    assert runs[0]["deconv2d/hidden-cases"].details["cases"][0]["name"].startswith("hidden-0-1to1-1x1")


def test_extraction_keeps_what_deconv2d_needs_and_the_last_definition():
    cells = [
        code(0, "%matplotlib inline\nimport numpy as np\nimport torch, missing_package\n"),
        code(1, "def conv2d(x, w):\n    return None\n"),
        code(2, "def broken(:\n"),
        code(3, "SCALE = np.float64(1)\n\n@staticmethod\ndef conv2d(x, w):\n    return x * SCALE\n"),
        code(4, "def deconv2d(input, weights):\n    out = conv2d(input, weights)\n    return out\n"),
        code(5, "%%bash\nls\n"),
        code(6, "x = deconv2d(np.ones(1), None); print(x)\n"),
    ]
    found = extract(cells, "deconv2d")
    assert [(s.cell, s.line, s.name) for s in found.snippets] == [
        (0, 2, "np"), (3, 1, "SCALE"), (3, 3, "conv2d"), (4, 1, "deconv2d")]
    assert found.snippets[2].source.startswith("@staticmethod\ndef conv2d")
    assert found.unparsed == [(2, "line 1: invalid syntax")] and found.missing == []
    ns: dict = {}
    for snip in found.snippets:
        exec(compile("\n" * (snip.line - 1) + snip.source, f"<cell {snip.cell}>", "exec"), ns)
    assert ns["deconv2d"](3.0, None) == 3.0


def test_names_defined_nowhere_are_reported():
    found = extract([code(0, "def deconv2d(a, b):\n    return helper(a) + len(b)\n")], "deconv2d")
    assert found.missing == ["helper"]


@pytest.mark.parametrize("source, flagged", [
    ("def deconv2d(a, b):\n    import torch\n    return a", True),
    ("def deconv2d(a, b):\n    from torch.nn import functional\n    return a", True),
    ("def deconv2d(a, b):\n    return __import__('torch').zeros(1)", True),
    ("def deconv2d(a, b):\n    import sys\n    return sys.modules['tensorflow']", True),
    ("def deconv2d(a, b):\n    return jax.numpy.zeros(1)", True),
    ("def deconv2d(a, b):\n    '''Like torch.nn.ConvTranspose2d.'''\n    return np.zeros(1)", False),
    ("import numpy as np\ndef deconv2d(a, b):\n    return np.kron(a, b)", False),
    ("def deconv2d(a, b):\n    exec('import torch')\n    return a", True),
    ("import importlib\ndef deconv2d(a, b):\n    return importlib.import_module('torch.nn')", True),
    ("def deconv2d(a, b):\n    return np.load('torch.npy')", False),
])
def test_the_static_check_sees_frameworks_however_they_are_named(source, flagged):
    found = extract([code(0, source)], "deconv2d")
    assert bool(framework_uses(found.snippets)) is flagged


def test_a_flipped_kernel_is_named():
    rng = np.random.default_rng(0)
    x, w = rng.integers(-3, 4, (3, 2, 4)).astype(float), rng.integers(-2, 3, (2, 3, 3, 3)).astype(float)
    flipped = expected(x, np.rot90(w, 2, axes=(2, 3)).copy())
    assert "rotated by 180 degrees" in _diagnose(x, w, flipped, (2, 3, 7)).en
