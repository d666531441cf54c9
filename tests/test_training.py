"""The training check on a tiny test-only profile, calibrated here from the reference solution.

The calibration runs once per session (it trains the reference over several seeds); the tests then grade
with a seed the calibration never saw. Tests that look at one network calibrate-file only that network
(a copy of the session's entries), so the other networks are skipped rather than trained.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from grader.checks.training import TrainingGroup
from grader.training import thresholds
from grader.training.calibrate import calibrate
from grader.training.profiles import CPU, NETWORKS, NetBudget, Profile

from .conftest import by_id

# 32 x 32 images, 5 discs of less noise, a learning rate ten times the lab's: in 15 steps (seconds per
# network on one CPU thread) the reference reaches Dice ~0.87 against ~0.46 for predicting all foreground.
TINY = Profile(name="tiny-test", device="cpu", size=32,
               nets={"unet": NetBudget(15, 8, 90), "unet_shallow": NetBudget(15, 8, 90),
                     "unet_add": NetBudget(15, 8, 90)},
               notebook=CPU.notebook, lr=0.01, cnt=5, sigma=10)
# Six seeds: the reference's spread on TINY (UNet: std 0.039 over seeds 1-8) leaves four seeds' bound,
# t(0.999, 3) = 10.2 standard deviations, below the all-foreground Dice; with six it is 6.4.
CALIBRATION_SEEDS = [1, 2, 3, 4, 5, 6]
GRADING_SEED = 4242
DETAIL_KEYS = {"loss", "dice", "threshold", "dice_per_image", "seconds", "device", "artifacts"}


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory):
    """The thresholds file for TINY, measured on the reference (all three networks)."""
    path = tmp_path_factory.mktemp("calibration") / "thresholds.json"
    entries, refused = calibrate(TINY, CALIBRATION_SEEDS, list(NETWORKS), workers=2, echo=lambda _: None)
    assert not refused, refused
    thresholds.save(TINY.name, entries, path)
    return path


def only(calibrated, tmp_path, *nets: str, profile: Profile = TINY):
    """A thresholds file holding the session's calibration of `nets` alone (under `profile`'s name)."""
    entries = json.loads(calibrated.read_text())["profiles"][TINY.name]
    path = tmp_path / "thresholds.json"
    thresholds.save(profile.name, {net: entries[net] for net in nets}, path)
    return path


@pytest.mark.slow
def test_the_reference_passes_all_three(calibrated, submission, run_group):
    checks = by_id(run_group(TrainingGroup(calibrated), submission(), seed=GRADING_SEED, profile=TINY))
    assert list(checks) == ["training/unet", "training/unet_shallow", "training/unet_add"]
    for cid, check in checks.items():
        assert check.status == "passed", check.message
        assert DETAIL_KEYS <= set(check.details)
        assert len(check.details["loss"]) == TINY.nets[cid.split("/")[1]].steps
        assert check.details["dice"] >= check.details["threshold"]
        assert len(check.details["dice_per_image"]) == TINY.eval_images
        assert check.details["device"] == "cpu"
        assert check.details["artifacts"]["sample"] == f"artifacts/training_{cid.split('/')[1]}_sample.png"


@pytest.mark.slow
@pytest.mark.parametrize("fixture, cause", [
    ("training_sigmoid_output", "every pixel as foreground"),
    ("training_constant_output", "almost no pixel"),
    ("training_detached", "does not depend on any trainable parameter"),
])
def test_a_network_that_cannot_learn_fails(fixture, cause, calibrated, submission, run_group, tmp_path):
    group = TrainingGroup(only(calibrated, tmp_path, "unet_shallow"))
    checks = by_id(run_group(group, submission(fixture), seed=GRADING_SEED, profile=TINY))
    shallow = checks["training/unet_shallow"]
    assert shallow.status == "failed" and shallow.score == 0
    assert cause in shallow.message
    assert checks["training/unet"].status == "skipped"


@pytest.mark.slow
def test_a_crash_costs_only_that_network(calibrated, submission, run_group, tmp_path):
    group = TrainingGroup(only(calibrated, tmp_path, "unet_shallow", "unet_add"))
    checks = by_id(run_group(group, submission("training_add_crashes"), seed=GRADING_SEED, profile=TINY))
    crashed = checks["training/unet_add"]
    assert crashed.status == "failed"
    assert "UNet_add: training failed: raised RuntimeError" in crashed.message
    assert "to have 1024 channels, but got 512" in crashed.message and "unet/unet_parts.py" in crashed.message
    assert checks["training/unet_shallow"].status == "passed"


@pytest.mark.slow
def test_a_network_out_of_memory_fails_with_a_message(calibrated, submission, run_group, tmp_path):
    group = TrainingGroup(only(calibrated, tmp_path, "unet_shallow"))
    checks = by_id(run_group(group, submission("training_shallow_memory"), seed=GRADING_SEED, profile=TINY))
    hog = checks["training/unet_shallow"]
    assert hog.status == "failed" and hog.score == 0
    assert "UNet_shallow: the network could not be built: raised" in hog.message
    assert "allocate" in hog.message


@pytest.mark.slow
def test_a_network_too_slow_to_train_is_stopped_at_its_limit(calibrated, submission, run_group, tmp_path):
    budget = dataclasses.replace(TINY.nets["unet_shallow"], timeout_s=6)
    quick = dataclasses.replace(TINY, nets={**TINY.nets, "unet_shallow": budget})
    group = TrainingGroup(only(calibrated, tmp_path, "unet_shallow", profile=quick))
    checks = by_id(run_group(group, submission("training_shallow_hangs"), seed=GRADING_SEED, profile=quick))
    hung = checks["training/unet_shallow"]
    assert hung.status == "timeout" and hung.score == 0
    assert "time limit" in hung.message


def test_without_calibration_the_check_says_so_and_trains_nothing(submission, run_group, tmp_path):
    checks = run_group(TrainingGroup(tmp_path / "none.json"), submission(), profile=TINY)
    assert [c.status for c in checks] == ["skipped"] * 3
    assert all("unet-grader calibrate --profile tiny-test" in c.message for c in checks)
    assert not (tmp_path / "run0" / "box" / "channel.bin").exists()


@pytest.mark.slow
def test_a_calibration_for_other_settings_is_not_used(calibrated, submission, run_group, tmp_path):
    budget = dataclasses.replace(TINY.nets["unet"], steps=TINY.nets["unet"].steps + 1)
    longer = dataclasses.replace(TINY, nets={**TINY.nets, "unet": budget})
    checks = by_id(run_group(TrainingGroup(only(calibrated, tmp_path, "unet")), submission(), profile=longer))
    assert checks["training/unet"].status == "skipped"
    assert "other training settings" in checks["training/unet"].message
