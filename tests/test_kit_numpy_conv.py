"""Q7 in the solution notebook: the given numpy convolution and the reference `deconv2d`.

The functions are taken from the notebook's tagged cells (`q7-conv-given`, `q7-deconv2d`) and run here;
the examples' printed numbers come from FACTS.md, general cases from torch's own conv functions.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from .test_kit_solution import SOLUTION, exec_cells

NOTEBOOK = SOLUTION / "Assignment.ipynb"

# FACTS.md: what the conv2d example prints.
CONV_EXAMPLE = [[2, 0, 2, 4, 0], [1, 4, 4, 3, 5], [4, 3, 5, 9, -1], [3, 4, 6, 2, 1], [5, 3, 5, 1, -2]]
# FACTS.md: the deconv2d example is (2, 5, 5) and its first channel begins with these rows.
DECONV_EXAMPLE_SHAPE = (2, 5, 5)
DECONV_EXAMPLE_FIRST_ROWS = [[3, 3, 2, 7, 5], [6, 8, 5, 11, 2]]
# (C_in, C_out, h, w[, k]) for the comparisons with torch
CONV_SHAPES = [(1, 1, 4, 4, 3), (3, 2, 6, 7, 3), (2, 3, 5, 4, 5)]
DECONV_SHAPES = [(1, 1, 1, 1), (4, 2, 3, 3), (3, 5, 4, 6), (2, 1, 7, 2)]


@pytest.fixture(scope="module")
def q7():
    return exec_cells(NOTEBOOK, "q7-conv-given", "q7-deconv2d")


def printed_numbers(ns: dict, tag: str) -> np.ndarray:
    """Run the tagged cell in `ns` and return every number it prints, in order."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec_cells(NOTEBOOK, tag, namespace=ns)
    # skip digits inside names such as `conv2d` or `dtype=torch.float32`
    return np.array(re.findall(r"(?<![\w.])-?\d+(?:\.\d*)?(?:e[-+]?\d+)?", out.getvalue()), dtype=float)


def torch_transposed(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ConvTranspose2d(stride 2, padding 1) with the kernels rotated 180 degrees and axes 0/1 swapped."""
    w = np.rot90(weights, 2, axes=(2, 3)).swapaxes(0, 1).copy()
    out = F.conv_transpose2d(torch.from_numpy(x)[None], torch.from_numpy(w), stride=2, padding=1)
    return out[0].numpy()


def test_conv2d_example_prints_the_labs_numbers(q7):
    np.testing.assert_array_equal(printed_numbers(dict(q7), "q7-conv-example"), np.ravel(CONV_EXAMPLE))


def test_conv2d_torch_check_cell_agrees(q7):
    ns = dict(q7)
    printed_numbers(ns, "q7-conv-example")
    np.testing.assert_array_equal(printed_numbers(ns, "q7-conv-torch"), np.ravel(CONV_EXAMPLE))


@pytest.mark.parametrize(("c_in", "c_out", "h", "w", "k"), CONV_SHAPES)
def test_conv2d_matches_torch(q7, c_in, c_out, h, w, k):
    rng = np.random.default_rng(c_in * 10 + k)
    x, weights = rng.normal(size=(c_in, h, w)), rng.normal(size=(c_out, c_in, k, k))
    expected = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(weights), padding=k // 2)[0].numpy()
    np.testing.assert_allclose(q7["conv2d"](x, weights), expected, rtol=1e-10, atol=1e-12)


def test_fill_zeros_puts_each_value_at_odd_positions(q7):
    x = np.arange(1, 25, dtype=float).reshape(2, 3, 4)
    filled = q7["fill_zeros"](x)
    assert filled.shape == (2, 7, 9)
    expected = np.zeros((2, 7, 9))
    for i, j, k in np.ndindex(x.shape):
        expected[i, 2 * j + 1, 2 * k + 1] = x[i, j, k]
    np.testing.assert_array_equal(filled, expected)


def test_deconv2d_example_prints_the_labs_numbers(q7):
    ns = dict(q7)
    printed = printed_numbers(ns, "q7-deconv-example").reshape(DECONV_EXAMPLE_SHAPE)
    np.testing.assert_array_equal(printed[0, :2], DECONV_EXAMPLE_FIRST_ROWS)
    reference = torch_transposed(ns["deconv_input"].astype(float), ns["deconv_weights"].astype(float))
    np.testing.assert_array_equal(printed, reference)


def test_deconv2d_torch_check_cell_agrees(q7):
    ns = dict(q7)
    printed = printed_numbers(ns, "q7-deconv-example")
    np.testing.assert_array_equal(printed_numbers(ns, "q7-deconv-torch"), printed)


@pytest.mark.parametrize(("c_in", "c_out", "h", "w"), DECONV_SHAPES)
def test_deconv2d_matches_torch_conv_transpose2d(q7, c_in, c_out, h, w):
    rng = np.random.default_rng(h * 100 + w)
    x, weights = rng.normal(size=(c_in, h, w)), rng.normal(size=(c_out, c_in, 3, 3))
    got = q7["deconv2d"](x, weights)
    assert got.shape == (c_out, 2 * h - 1, 2 * w - 1)
    np.testing.assert_allclose(got, torch_transposed(x, weights), rtol=1e-10, atol=1e-12)
