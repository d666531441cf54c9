"""Pass marks for the training check, measured on the reference solution by `unet-grader calibrate`.

A pass mark is never typed in. For each profile and network, the reference is trained over n seeds and
its foreground Dice recorded; the pass mark is the one-sided lower prediction bound for one more run of the
reference at failure rate 1e-3 under a normal fit, with Student's t because the spread is itself estimated
from n runs, and never above the lowest Dice observed:

    threshold = min(mean - t(1 - 1e-3, n - 1) * std * sqrt(1 + 1/n), min(observed))

so a correct solution, trained like the reference, fails less than once in a thousand gradings (under the
normal fit). A calibration that cannot tell the reference from a network predicting foreground everywhere
is refused.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

FAILURE_RATE = 1e-3
MIN_SEEDS = 3
THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")
METHOD = ("threshold = min(mean - t(1 - p, n - 1) * std * sqrt(1 + 1/n), min(observed)) with p = 1e-3: the "
          "one-sided lower prediction bound for one more run of the reference solution under a normal fit "
          "(Student t: the std is estimated from n seeds), never above the lowest Dice observed")


class CalibrationError(ValueError):
    """Dice values that cannot give a trustworthy pass mark; the message says why."""


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (p > 0.5) of Student's t with `df` degrees of freedom, by bisection on its CDF."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x: float) -> float:
        grid = np.linspace(0.0, x, 20_001)
        pdf = np.exp(log_norm - (df + 1) / 2 * np.log1p(grid**2 / df))
        return 0.5 + float(np.sum((pdf[1:] + pdf[:-1]) / 2) * (grid[1] - grid[0]))

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, hi * 2
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def pass_mark(dice: list[float], all_foreground: float, failure_rate: float = FAILURE_RATE) -> dict[str, Any]:
    """The pass mark and the spread it comes from, for the reference's Dice over n seeds."""
    n = len(dice)
    if n < MIN_SEEDS:
        raise CalibrationError(f"{n} seed(s) is too few to estimate a spread: calibrate with --seeds 8")
    mean, std = statistics.fmean(dice), statistics.stdev(dice)
    t = t_quantile(1 - failure_rate, n - 1)
    threshold = min(mean - t * std * math.sqrt(1 + 1 / n), min(dice))
    if threshold <= all_foreground:
        raise CalibrationError(
            f"the pass mark {threshold:.3f} would not fail a network that marks every pixel as foreground "
            f"(Dice {all_foreground:.3f}): the reference's Dice {mean:.3f} +- {std:.3f} varies too much for "
            f"this budget; give the profile more steps, or calibrate with more seeds")
    normal_tail = statistics.NormalDist(mean, std).cdf(threshold) if std > 0 else 0.0
    return {"threshold": round(threshold, 4), "mean": round(mean, 4), "std": round(std, 4),
            "min": round(min(dice), 4), "max": round(max(dice), 4), "n_seeds": n, "t": round(t, 3),
            "failure_rate": failure_rate, "normal_tail": normal_tail,
            "all_foreground": round(all_foreground, 4)}


def load(path: Path = THRESHOLDS_FILE) -> dict[str, Any]:
    """The whole file, or an empty calibration when there is none yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"method": METHOD, "profiles": {}}
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise CalibrationError(f"{path} is not a thresholds file")
    return data


def entry(profile: str, net: str, path: Path = THRESHOLDS_FILE) -> dict[str, Any] | None:
    """The calibration of one network on one profile, or None when there is none."""
    found = load(path)["profiles"].get(profile, {}).get(net)
    return found if isinstance(found, dict) and isinstance(found.get("threshold"), (int, float)) else None


def save(profile: str, entries: dict[str, dict[str, Any]], path: Path = THRESHOLDS_FILE) -> None:
    """Replace the calibration of these networks on `profile`, keeping every other one (atomic write)."""
    data = load(path)
    data["method"] = METHOD
    data["profiles"].setdefault(profile, {}).update(entries)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
