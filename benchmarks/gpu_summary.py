"""Print the figures of a GPU run: the gpu pass marks, and per graded submission the training and notebook
checks (seconds, Dice, pass mark, status).

    python benchmarks/gpu_summary.py REPORTS_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader.training import thresholds  # noqa: E402
from grader.training.profiles import GPU, NETWORKS  # noqa: E402


def main(reports: Path) -> int:
    print(f"\npass marks, profile gpu ({GPU.size} x {GPU.size}), from {thresholds.THRESHOLDS_FILE}:")
    for net in NETWORKS:
        e = thresholds.entry("gpu", net)
        if e is None:
            print(f"  {net:13s} not calibrated")
            continue
        print(f"  {net:13s} pass mark {e['threshold']:.4f}  mean {e['mean']:.4f} std {e['std']:.4f} "
              f"min {e['min']:.4f} n={e['n_seeds']}  {e['seconds_mean']:.1f} s per run on {e['device_name']}")
    for path in sorted(reports.glob("*/result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        print(f"\n{result['submission']['id']}: {result['score']:g}/{result['max_score']:g} "
              f"(profile {result['environment']['profile']}, {result['environment']['device']}; "
              f"{result['timings'].get('total', 0):.0f} s in all)")
        for check in result["checks"]:
            d = check["details"]
            figures = (f"Dice {d['dice']:.4f} vs {d['threshold']:.4f}, {d.get('seconds') or 0:.1f} s training"
                       if "dice" in d else f"{d.get('cells_run', '')}/{d.get('cells_total', '')} cells"
                       if "cells_total" in d else "")
            message = check["messages"].get("en", "")[:90]
            print(f"  {check['id']:24s} {check['status']:8s} {figures}  {message}")
        stages = {k: v for k, v in result["timings"].items() if k.startswith("stage:")}
        print("  stage seconds: " + ", ".join(f"{k[6:]} {v:.1f}" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
