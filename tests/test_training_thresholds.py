"""Pass marks from the reference's spread, profile choice, and the committed calibration."""

from __future__ import annotations

import json

import pytest

from grader import cli
from grader.training import profiles, thresholds
from grader.training.profiles import CPU, DEMO, GPU, ProfileError


@pytest.mark.parametrize("df, table", [(2, 22.327), (5, 5.893), (7, 4.785), (9, 4.297), (1000, 3.098)])
def test_t_quantile_matches_the_tables(df, table):
    assert thresholds.t_quantile(0.999, df) == pytest.approx(table, abs=1e-3)


def test_pass_mark_is_a_prediction_bound_never_above_the_lowest_run():
    dice = [0.95, 0.94, 0.96, 0.93, 0.95, 0.94]
    mark = thresholds.pass_mark(dice, all_foreground=0.7)
    assert mark["threshold"] < min(dice)
    assert mark["threshold"] == pytest.approx(0.945 - 5.893 * mark["std"] * (1 + 1 / 6) ** 0.5, abs=1e-3)
    assert mark["normal_tail"] < thresholds.FAILURE_RATE
    tight = thresholds.pass_mark([0.9, 0.9, 0.9], all_foreground=0.7)
    assert tight["threshold"] == 0.9


def test_a_spread_that_reaches_the_trivial_network_is_refused():
    with pytest.raises(thresholds.CalibrationError, match="foreground"):
        thresholds.pass_mark([0.95, 0.75, 0.9, 0.93], all_foreground=0.7)
    with pytest.raises(thresholds.CalibrationError, match="too few"):
        thresholds.pass_mark([0.95, 0.94], all_foreground=0.7)


def test_save_keeps_the_other_profiles(tmp_path):
    path = tmp_path / "thresholds.json"
    thresholds.save("a", {"unet": {"threshold": 0.8}}, path)
    thresholds.save("b", {"unet": {"threshold": 0.9}}, path)
    thresholds.save("a", {"unet_add": {"threshold": 0.7}}, path)
    data = json.loads(path.read_text())
    assert data["method"] == thresholds.METHOD
    assert data["profiles"] == {"a": {"unet": {"threshold": 0.8}, "unet_add": {"threshold": 0.7}},
                                "b": {"unet": {"threshold": 0.9}}}


def test_auto_picks_the_gpu_profile_only_with_cuda(monkeypatch):
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    assert profiles.resolve("auto") is CPU
    assert profiles.resolve("cpu") is CPU
    with pytest.raises(ProfileError, match="CUDA"):
        profiles.resolve("gpu")
    monkeypatch.setattr(profiles, "cuda_available", lambda: True)
    assert profiles.resolve("auto") is GPU
    assert GPU.size == 128 and GPU.device.startswith("cuda")


def test_calibrating_the_gpu_profile_without_a_gpu_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(profiles, "cuda_available", lambda: False)
    assert cli.main(["calibrate", "--profile", "gpu", "--seeds", "4"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


@pytest.mark.parametrize("profile", [CPU, DEMO], ids=lambda p: p.name)
def test_the_cpu_profiles_are_calibrated_for_their_current_settings(profile):
    for net in profiles.NETWORKS:
        found = thresholds.entry(profile.name, net)
        assert found is not None, f"run `unet-grader calibrate --profile {profile.name}` ({net} has no pass mark)"
        assert found["settings"] == profile.settings(net), f"the {profile.name} calibration of {net} is stale"
        assert found["all_foreground"] < found["threshold"] <= found["min"]
        assert found["n_seeds"] == len(found["dice"]) >= 5
