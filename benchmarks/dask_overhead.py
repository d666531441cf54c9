"""Dask's overhead: seconds per submission on 1, 2 and 4 local Dask workers against the plain local workers.

    python benchmarks/dask_overhead.py [--copies 6] [--runs 3] [--local 1,2] [--dask 1,2,4] [--checks GLOB,...]

Grades N copies of the correct demo submission (submissions/2024001_perfect.tar.gz) on the function checks,
in turn with `batch.grade_all` (the plain local workers) and with `distributed.grade_on_dask` on a
LocalCluster of N worker processes (`--scheduler local:N`), and prints the medians over --runs runs of the
grading phase's wall time divided by N. A Dask batch's figure includes starting and stopping its
LocalCluster, which is also timed on its own (a cluster on other machines is already running).
Needs the dask extra: pip install 'unet-grader[dask]'.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grading_speed import CORRECT, FUNCTION_GROUPS, copies_of_correct  # noqa: E402 - the sibling benchmark

from grader import intake, pipeline, sandbox  # noqa: E402
from grader.batch import grade_all  # noqa: E402
from grader.checks.registry import GROUPS  # noqa: E402
from grader.distributed import SCHEDULER_CONFIG, grade_on_dask, require  # noqa: E402
from grader.progress import Progress  # noqa: E402
from grader.rubric import load  # noqa: E402
from grader.settings import RunSettings  # noqa: E402


def grade_batch(sources: list[intake.SubmissionSource], how: str, n: int, checks: list[str], tmp: Path) -> float:
    """Wall seconds to grade `sources` with `n` plain local workers (`how` = local) or Dask workers (dask)."""
    out, work = tmp / f"out-{how}-{n}", tmp / f"work-{how}-{n}"
    for folder in (out, work):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    settings = RunSettings(out_dir=out, work_root=work, rubric=load(), seed=1, profile="cpu", device="cpu",
                           checks=checks)
    with open(os.devnull, "w") as quiet:
        progress = Progress(len(sources), stream=quiet, tty=False)
        start = time.perf_counter()
        if how == "local":
            results, _ = grade_all(sources, settings, n, progress)
        else:
            results, _ = grade_on_dask(sources, settings, f"local:{n}", progress, echo=lambda _: None)
        wall = time.perf_counter() - start
    bad = [r.submission.id for r in results if r.score != r.max_score or not r.checks]
    if bad or len(results) != len(sources):
        raise RuntimeError(f"the correct submission did not get full marks: {bad} (see {out})")
    return wall


def cluster_start_stop(n: int) -> float:
    """Seconds to start a LocalCluster of `n` worker processes, connect, and close it again."""
    import dask

    distributed = require()
    start = time.perf_counter()
    with dask.config.set(SCHEDULER_CONFIG):
        cluster = distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1)
    with cluster, distributed.Client(cluster):
        pass
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="submissions per batch (default 6)")
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--local", default="1,2", help="plain local worker counts (default 1,2)")
    parser.add_argument("--dask", default="1,2,4", help="local Dask worker counts (default 1,2,4)")
    parser.add_argument("--checks", default=None, help="check globs (default: the function groups)")
    args = parser.parse_args()
    plans = [("local", int(n)) for n in args.local.split(",")] + [("dask", int(n)) for n in args.dask.split(",")]
    checks = args.checks.split(",") if args.checks else [g for g in FUNCTION_GROUPS if g in GROUPS]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{args.copies} copies of {CORRECT.name}; checks {','.join(checks)}")
    print(f"isolation: {sandbox.probe().description}")

    per_sub: dict[tuple[str, int], list[float]] = defaultdict(list)
    starts: dict[int, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="unet-grader-dask-bench-") as name:
        tmp = Path(name)
        sources = copies_of_correct(tmp, args.copies)
        grade_batch(sources[:1], "local", 1, checks, tmp)  # warm the page cache and the grader's own imports
        for run in range(args.runs):
            for how, n in plans:
                per_sub[how, n].append(grade_batch(sources, how, n, checks, tmp) / len(sources))
                if how == "dask":
                    starts[n].append(cluster_start_stop(n))
            print(f"  run {run + 1}/{args.runs}: "
                  + "; ".join(f"{how} {n}: {per_sub[how, n][-1]:.2f} s/submission" for how, n in plans), flush=True)

    print(f"\n{'workers':<10} {'s/submission':>12}  {'vs local, same count':>20}  {'LocalCluster start+stop':>23}")
    for how, n in plans:
        median = statistics.median(per_sub[how, n])
        plain = per_sub.get(("local", n))
        versus = f"{median / statistics.median(plain):.2f}x" if how == "dask" and plain else ""
        start = f"{statistics.median(starts[n]):.1f} s" if how == "dask" else ""
        print(f"{how + ' ' + str(n):<10} {median:>12.2f}  {versus:>20}  {start:>23}")
    print(f"\ngrader {pipeline.__version__}; medians of {args.runs} runs; rerun: python benchmarks/dask_overhead.py "
          f"--copies {args.copies} --runs {args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
