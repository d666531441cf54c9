"""`unet-grader calibrate`: train the reference solution over several seeds and write the pass marks.

The reference goes through exactly the path a submission takes (the same stage inputs, the in-sandbox
runner and training stage, the parent's Dice), only without a sandbox: it is the grader's own code.
"""

from __future__ import annotations

import dataclasses
import datetime
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import __version__
from ..checks.base import CheckContext
from ..checks.training import stage_name, training_stage
from ..stagerun import run_trusted
from . import thresholds
from .evaluate import all_foreground_dice, foreground_dice, held_out, predicted_masks
from .kit import SOLUTION, image_gen_source
from .profiles import NETWORKS, Profile, ProfileError, resolve

CALIBRATION_SLACK = 4


def reference_run(profile: Profile, seed: int, nets: list[str], work: Path, threads: int = 1
                  ) -> dict[str, dict[str, Any]]:
    """Train the reference's `nets` with `seed`; per network its Dice, training seconds and device."""
    box = work / f"seed-{seed}"
    submission = box / "submission"
    shutil.copytree(SOLUTION / "unet", submission / "unet", ignore=shutil.ignore_patterns("__pycache__"))
    ctx = CheckContext(submission_dir=submission, notebook=None, seed=seed, profile=profile, rubric=None,
                       io_root=box / "inputs", artifacts_dir=box / "artifacts")
    images, masks = held_out(profile, seed)
    source = image_gen_source()
    # the reference's time limits are generous: a calibration lost to a busy machine costs an hour
    stages = [dataclasses.replace(training_stage(ctx, profile, net, images, source),
                                  timeout_s=profile.nets[net].timeout_s * CALIBRATION_SLACK) for net in nets]
    outputs = run_trusted(box, submission, stages, ctx, threads=threads)
    found = {}
    for net in nets:
        out = outputs[stage_name(net)]
        records = out.records()
        if not all(records.get(case, {}).get("ok") for case in ("load", "train", "predict")):
            raise thresholds.CalibrationError(
                f"the reference {NETWORKS[net]} failed with seed {seed} ({out.state}):\n{out.log()[-3000:]}")
        logits = out.array("logits", shape=(len(images), 2, profile.size, profile.size))
        found[net] = {"dice": float(foreground_dice(predicted_masks(logits), masks).mean()),
                      "seconds": float(records["train"]["seconds"]),
                      "all_foreground": all_foreground_dice(masks),
                      **{key: records["load"].get(key) for key in ("device", "device_name", "torch")}}
    return found


def calibrate(profile: Profile, seeds: list[int], nets: list[str], *, workers: int = 1, threads: int = 1,
              echo=print) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Per network, the thresholds-file entry (pass mark, spread, how it was measured), or why there is
    none (a spread that does not separate the reference from a trivial network). CalibrationError when the
    reference itself fails to train."""
    with tempfile.TemporaryDirectory(prefix="unet-grader-calibrate-") as tmp:
        def one(seed: int) -> dict[str, dict[str, Any]]:
            found = reference_run(profile, seed, nets, Path(tmp), threads)
            echo(f"seed {seed}: " + ", ".join(f"{net} Dice {r['dice']:.4f} ({r['seconds']:.1f} s)"
                                              for net, r in found.items()))
            return found

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            runs = list(pool.map(one, seeds))
    today = datetime.date.today().isoformat()
    entries, refused = {}, {}
    for net in nets:
        dice = [run[net]["dice"] for run in runs]
        floor = max(run[net]["all_foreground"] for run in runs)
        first = runs[0][net]
        try:
            mark = thresholds.pass_mark(dice, floor)
        except thresholds.CalibrationError as exc:
            refused[net] = str(exc)
            continue
        entries[net] = {**mark, "dice": [round(d, 4) for d in dice], "seeds": seeds,
                        "seconds_mean": round(statistics.fmean(r[net]["seconds"] for r in runs), 2),
                        "date": today, "device": first["device"], "device_name": first["device_name"],
                        "torch": first["torch"], "grader_version": __version__, "threads": threads,
                        "settings": profile.settings(net)}
    return entries, refused


def main(*, profile: str | Profile, seeds: int, first_seed: int = 1, workers: int = 1, threads: int = 1,
         nets: list[str] | None = None, out: Path = thresholds.THRESHOLDS_FILE, echo=print) -> int:
    """Calibrate `profile` and write its pass marks into `out`; 1 when a network gets no usable mark (the
    others are written all the same)."""
    try:
        chosen = profile if isinstance(profile, Profile) else resolve(profile)
    except ProfileError as exc:
        print(f"unet-grader: {exc}", file=sys.stderr)
        return 2
    nets = nets or list(NETWORKS)
    echo(f"Calibrating profile {chosen.name!r} on {chosen.device}: {', '.join(nets)}, seeds "
         f"{first_seed}..{first_seed + seeds - 1}, {workers} at a time")
    start = time.perf_counter()
    try:
        entries, refused = calibrate(chosen, list(range(first_seed, first_seed + seeds)), nets,
                                     workers=workers, threads=threads, echo=echo)
    except thresholds.CalibrationError as exc:
        print(f"unet-grader: calibration failed: {exc}", file=sys.stderr)
        return 1
    if entries:
        thresholds.save(chosen.name, entries, out)
    for net, e in entries.items():
        echo(f"{net:13s} pass mark {e['threshold']:.4f}  Dice mean {e['mean']:.4f} std {e['std']:.4f} "
             f"min {e['min']:.4f} (n={e['n_seeds']}, all-foreground {e['all_foreground']:.3f}, "
             f"{e['seconds_mean']:.1f} s per run)")
    for net, why in refused.items():
        print(f"unet-grader: no pass mark for {net}: {why}", file=sys.stderr)
    echo(f"Wrote {', '.join(entries) or 'nothing'} to {out} in {time.perf_counter() - start:.0f} s")
    return 1 if refused else 0
