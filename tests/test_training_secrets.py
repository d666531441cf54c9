"""The held-out images are a secret the sandbox never sees: only the images go in, never what they derive from.

A fixture network (`training_redraws_held_out`) is a 1x1 convolution that, when asked to predict, looks for
every number the stage can see (its task in memory, the input files, the environment, argv), tries the old
derivation, plain seeding and the grader's published key derivation on each, and answers with the redrawn
masks when one reproduces the images it is shown. Given the seed, as the old task carried it, it scores a
perfect Dice; as graded, it fails.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from grader.checks import training
from grader.checks.base import CheckContext
from grader.checks.training import TrainingGroup
from grader.rubric import load
from grader.training import keys, thresholds
from grader.training.evaluate import held_out

from .conftest import by_id
from .test_training import TINY

SEED = 987654321
# The reference reaches Dice ~0.85 on TINY in its 15 steps (UNet over seeds 1-8: 0.79 to 0.90); a network
# that learned nothing sits near the all-foreground level, ~0.48.
PASS_MARK = 0.8


def _thresholds(tmp_path, *nets: str):
    """A calibration entry for `nets` on TINY with a fixed pass mark (the other networks are skipped)."""
    path = tmp_path / "thresholds.json"
    entries = {net: {"threshold": PASS_MARK, "mean": 0.87, "std": 0.02, "min": 0.85, "n_seeds": 4,
                     "settings": TINY.settings(net)} for net in nets}
    thresholds.save(TINY.name, entries, path)
    return path


class RecordingContext(CheckContext):
    """A context that keeps every array a group hands to a stage, whatever carries it there."""

    def save_input(self, stage, name, array):
        self.saved.setdefault(stage, {})[name] = np.array(array)
        super().save_input(stage, name, array)


def _numbers(value) -> set[int]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*map(_numbers, value)) if value else set()
    return set()


def test_the_stage_gets_the_images_but_neither_seed_nor_key_nor_masks(tmp_path):
    ctx = RecordingContext(submission_dir=tmp_path / "sub", notebook=None, seed=SEED, profile=TINY, rubric=load(),
                           io_root=tmp_path / "box", artifacts_dir=tmp_path / "artifacts")
    ctx.saved = {}
    stages = TrainingGroup(_thresholds(tmp_path, "unet", "unet_shallow", "unet_add")).prepare(ctx)
    images, masks = held_out(TINY, SEED)
    secrets = {SEED, keys.held_out_key(SEED)}
    assert [s.name for s in stages] == ["training_unet", "training_unet_shallow", "training_unet_add"]
    for stage in stages:
        text = json.dumps(stage.task)
        assert all(str(secret) not in text for secret in secrets), stage.name
        assert not _numbers(stage.task) & secrets
        assert list(ctx.saved[stage.name]) == ["held_out"]
        np.testing.assert_array_equal(ctx.saved[stage.name]["held_out"], images)
        assert sorted(p.name for p in ctx.stage_inputs(stage.name).iterdir()) == ["held_out.npy"]
    assert masks.any() and not any(a.dtype == bool for s in ctx.saved.values() for a in s.values())
    # every network trains on its own streams, none of them the held-out one
    streams = [stage.task[p] for stage in stages for p in keys.STAGE_PURPOSES]
    assert len(set(streams)) == len(streams) == 9


def test_the_derived_streams_are_fixed_per_seed_and_differ_between_seeds():
    assert keys.stage_seeds(SEED, "unet") == keys.stage_seeds(SEED, "unet")
    assert keys.stage_seeds(SEED, "unet") != keys.stage_seeds(SEED + 1, "unet")
    assert keys.held_out_key(SEED) != keys.held_out_key(SEED + 1)
    assert all(0 <= v < 2**63 for v in [*keys.stage_seeds(SEED, "unet_add").values(), keys.held_out_key(SEED)])


def test_a_network_that_redraws_the_held_out_set_cannot_pass(submission, run_group, tmp_path):
    group = TrainingGroup(_thresholds(tmp_path, "unet_shallow"))
    checks = by_id(run_group(group, submission("training_redraws_held_out"), seed=SEED, profile=TINY))
    cheat = checks["training/unet_shallow"]
    assert cheat.status == "failed" and cheat.score == 0, cheat.message
    assert cheat.details["dice"] < PASS_MARK


def test_the_same_network_given_the_seed_redraws_it(submission, run_group, tmp_path, monkeypatch):
    """The control: were the seed in the task (as it was), the same cheat would score a perfect Dice."""
    plain = training.stage_task
    monkeypatch.setattr(training, "stage_task", lambda profile, net, seed, generator: {
        **plain(profile, net, seed, generator), "seed": seed})
    group = TrainingGroup(_thresholds(tmp_path, "unet_shallow"))
    checks = by_id(run_group(group, submission("training_redraws_held_out"), seed=SEED, profile=TINY))
    cheat = checks["training/unet_shallow"]
    assert cheat.status == "passed", cheat.message
    assert cheat.details["dice"] == pytest.approx(1.0)
