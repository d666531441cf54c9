"""up_add checks on fixture submissions (graded by all five groups at once, see test_checks_unet_shallow).

A faulty up_add also breaks UNet_add when UNet_add inherits the fault (concatenating, dropping the skip);
subtracting keeps UNet_add's structure, so only up_add loses points for it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from grader.checks.up_add import PUBLIC, UpAddGroup, _DoubleConv, _upsampled
from tests.test_checks_unet_shallow import assert_breaks, assert_full_marks, context, grading


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grading(tmp_path_factory.mktemp("graded"))


def test_an_up_add_written_differently_gets_full_marks(graded):
    assert_full_marks(graded("up_add_interpolate"))


def test_the_reference_up_add_passes_every_case(graded):
    results = graded(None)
    cases = results["up_add/adds-skip"].details["cases"]
    assert len(cases) == 6 and all(c["ok"] and c["comparison"]["match"] for c in cases)
    assert len(results["up_add/channels"].details["cases"]) == 6


def test_concatenating_fails_both_up_add_checks_and_unet_add(graded):
    results = graded("up_add_concatenates")
    assert_breaks(results, {"up_add", "unet_add"}, {
        "up_add/channels": "double_conv takes 2*in_ch = 8 channels",
        "up_add/adds-skip": "it concatenates x2 and the upsampled x1",
        "unet_add/structure": "the decoder concatenates maps",
    })
    assert results["up_add/channels"].score == 0 and results["up_add/adds-skip"].score == 0


def test_dropping_the_skip_is_named(graded):
    results = graded("up_add_drops_skip")
    assert_breaks(results, {"up_add", "unet_add"}, {"up_add/adds-skip": "it drops the skip map x2",
                                                    "unet_add/structure": "no skip connection"})
    assert results["up_add/channels"].status == "passed"


def test_subtracting_is_named_and_costs_only_up_add(graded):
    results = graded("up_add_subtracts")
    assert_breaks(results, {"up_add"}, {"up_add/adds-skip": "it subtracts one map from the other"})
    assert results["up_add/channels"].status == "passed"


def test_hidden_cases_follow_the_seed(tmp_path):
    group = UpAddGroup()
    a, b = group._cases(context(tmp_path, 1)), group._cases(context(tmp_path, 2))
    assert a == group._cases(context(tmp_path, 1)) and a != b
    assert a[: len(PUBLIC)] == PUBLIC
    # inside the lab's contract: the skip map exactly twice x1, power-of-two sides
    assert all(c.x2_size == (2 * c.x1[2], 2 * c.x1[3]) for c in a + b)
    assert all(side in (1, 2, 4, 8) for c in a[len(PUBLIC):] + b[len(PUBLIC):] for side in c.x1[2:])
    assert group._cases(context(tmp_path, 1, True)) == group._cases(context(tmp_path, 2, True))


def test_the_parents_recomputation_is_torchs_double_conv_on_x2_plus_upsampled_x1():
    """The parent's functional rebuild agrees with torch's own modules doing what the lab describes."""
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                          nn.Conv2d(5, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU()).double()
    for bn in (block[1], block[4]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    block.eval()
    x1, x2 = torch.randn(2, 3, 4, 3, dtype=torch.float64), torch.randn(2, 3, 8, 6, dtype=torch.float64)
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(x1)
    convs = [{"weight": block[i].weight.detach(), "bias": block[i].bias.detach()} for i in (0, 3)]
    norms = [{"weight": block[i].weight.detach(), "bias": block[i].bias.detach(), "eps": block[i].eps,
              "running_mean": block[i].running_mean, "running_var": block[i].running_var} for i in (1, 4)]
    ups = _upsampled(x1)
    np.testing.assert_allclose(ups[0].numpy(), up.numpy())
    rebuilt = _DoubleConv(convs, norms)(x2 + ups[0])
    np.testing.assert_allclose(rebuilt.numpy(), block(x2 + up).detach().numpy(), rtol=1e-10, atol=1e-12)

