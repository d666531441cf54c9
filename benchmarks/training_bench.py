"""Training check: seconds per network and the reference's Dice over seeds, per profile and device.

    python benchmarks/training_bench.py [--profile cpu|gpu|auto] [--seeds 3] [--runs 1] [--threads 1]
                                        [--networks unet,unet_shallow,unet_add]

Trains the reference solution through the path the training check takes (stage inputs, the in-sandbox
runner's training stage, the parent's Dice; `grader.training.calibrate.reference_run`), for each of
--seeds seeds, --runs times. Prints per network: the median over all runs of the training seconds (as the
stage measures them: the SGD steps and the BatchNorm re-estimate, not the process start), and the Dice
distribution over seeds (median, min, max, std) next to the calibrated pass mark of the profile.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.training import thresholds  # noqa: E402
from grader.training.calibrate import reference_run  # noqa: E402
from grader.training.profiles import NETWORKS, resolve  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1, help="repeat each seed (for the timing median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    args = parser.parse_args()
    profile = resolve(args.profile)
    nets = [n.strip() for n in args.networks.split(",") if n.strip()]
    seconds: dict[str, list[float]] = {net: [] for net in nets}
    dice: dict[str, list[float]] = {net: [] for net in nets}
    device = "?"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="training-bench-") as tmp:
        for run in range(args.runs):
            for seed in range(1, args.seeds + 1):
                found = reference_run(profile, seed, nets, Path(tmp) / f"run{run}", args.threads)
                for net, r in found.items():
                    seconds[net].append(r["seconds"])
                    if run == 0:
                        dice[net].append(r["dice"])
                    device = f"{r['device']} ({r['device_name']}, torch {r['torch']})"
                figures = ", ".join(f"{net} {r['seconds']:.1f} s Dice {r['dice']:.4f}"
                                    for net, r in found.items())
                print(f"run {run + 1} seed {seed}: {figures}", flush=True)
    print(f"\nprofile {profile.name}, {profile.size} x {profile.size}, on {device}, {args.threads} "
          f"thread(s); {args.seeds} seeds x {args.runs} run(s) in {time.perf_counter() - start:.0f} s")
    print(f"{'network':13s} {'steps':>5s} {'batch':>5s} {'s/net':>7s} {'Dice med':>8s} {'min':>6s} "
          f"{'max':>6s} {'std':>6s} {'pass mark':>9s}")
    for net in nets:
        budget = profile.nets[net]
        mark = thresholds.entry(profile.name, net)
        spread = statistics.stdev(dice[net]) if len(dice[net]) > 1 else 0.0
        print(f"{net:13s} {budget.steps:5d} {budget.batch:5d} {statistics.median(seconds[net]):7.1f} "
              f"{statistics.median(dice[net]):8.4f} {min(dice[net]):6.4f} {max(dice[net]):6.4f} "
              f"{spread:6.4f} {mark['threshold'] if mark else '-':>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
