"""Grading speed: seconds per submission with 1 and 2 workers, against one bare `import torch`.

    python benchmarks/grading_speed.py [--copies 6] [--runs 3] [--workers 1,2] [--checks GLOB,...]

Grades N copies of the correct demo submission (submissions/2024001_perfect.tar.gz) on the function
checks (by default every group of jaccard, unet_shallow, up_add, unet_add and deconv2d that is
registered), in the sandbox this machine offers, with each worker count in turn; and times one bare
`python -c 'import torch'` in the same run, between them, so that both see the same machine load. Prints
the medians over --runs runs: seconds per submission (the grading phase's wall time divided by N: a
batch's own start, about one `import torch` in the grader, and the reports come once per batch on top),
its ratio to the bare import, and where a submission's time goes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader import intake, pipeline, sandbox  # noqa: E402
from grader.batch import grade_all  # noqa: E402
from grader.checks.registry import GROUPS  # noqa: E402
from grader.progress import Progress  # noqa: E402
from grader.rubric import load  # noqa: E402
from grader.settings import RunSettings  # noqa: E402

CORRECT = REPO / "submissions" / "2024001_perfect.tar.gz"
FUNCTION_GROUPS = ("jaccard", "unet_shallow", "up_add", "unet_add", "deconv2d")


def copies_of_correct(tmp: Path, copies: int) -> list[intake.SubmissionSource]:
    """`copies` copies of the perfect demo archive in `tmp/inbox`, as the batch grader collects them."""
    inbox = tmp / "inbox"
    inbox.mkdir()
    for i in range(copies):
        shutil.copyfile(CORRECT, inbox / f"copy{i:02d}.tar.gz")
    return intake.collect([inbox])


def bare_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def in_sandbox(argv: list[str], root: Path) -> float:
    """Wall time of `argv` run by `sandbox.run`, as the grader runs its supervisor."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "home").mkdir(parents=True)
    start = time.perf_counter()
    outcome = sandbox.run(root, argv, limits=sandbox.Limits(timeout_s=120, memory_mb=3072))
    took = time.perf_counter() - start
    if outcome.returncode != 0:
        raise RuntimeError(f"{argv} failed in the sandbox: {outcome.output[-500:]}")
    return took


def grade_batch(sources: list[intake.SubmissionSource], workers: int, checks: list[str], tmp: Path
                ) -> tuple[float, list[dict[str, float]]]:
    """(wall seconds of the grading phase, each submission's timings)."""
    out, work = tmp / f"out-{workers}", tmp / f"work-{workers}"
    for folder in (out, work):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    settings = RunSettings(out_dir=out, work_root=work, rubric=load(), seed=1, profile="cpu", device="cpu",
                           checks=checks)
    with open("/dev/null", "w") as quiet:
        start = time.perf_counter()
        results, _ = grade_all(sources, settings, workers, Progress(len(sources), stream=quiet, tty=False))
        wall = time.perf_counter() - start
    bad = [r.submission.id for r in results if r.score != r.max_score or not r.checks]
    if bad:
        raise RuntimeError(f"the correct submission did not get full marks: {bad} (see {out})")
    return wall, [r.timings for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="submissions per batch (default 6)")
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--checks", default=None, help="check globs (default: the function groups)")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    checks = args.checks.split(",") if args.checks else [g for g in FUNCTION_GROUPS if g in GROUPS]
    iso = sandbox.probe()
    print(f"python {sys.version.split()[0]}; {args.copies} copies of {CORRECT.name}; "
          f"checks {','.join(checks)}")
    print(f"isolation: {iso.description}")

    imports: list[float] = []
    per_sub: dict[int, list[float]] = defaultdict(list)
    timings: list[dict[str, float]] = []
    micro: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="unet-grader-bench-") as name:
        tmp = Path(name)
        sources = copies_of_correct(tmp, args.copies)
        grade_batch(sources[:1], 1, checks, tmp)  # warm the page cache and the grader's own imports
        for run in range(args.runs):
            imports.append(bare_import())
            for w in workers:
                wall, subs = grade_batch(sources, w, checks, tmp)
                per_sub[w].append(wall / len(sources))
                timings += subs
            root = tmp / "micro"
            micro["sandbox start (bwrap, cgroup, rlimits) running `true`"].append(in_sandbox(["true"], root))
            micro["python -I startup, in the sandbox"].append(
                in_sandbox([sys.executable, "-I", "-c", "pass"], root))
            micro["python -I -c 'import numpy, torch', in the sandbox"].append(
                in_sandbox([sys.executable, "-I", "-c", "import numpy, torch"], root))
            print(f"  run {run + 1}/{args.runs}: import torch {imports[-1]:.2f} s; "
                  + "; ".join(f"{w} worker(s) {per_sub[w][-1]:.2f} s/submission" for w in workers))

    base = statistics.median(imports)
    print(f"\nbare `python -c 'import torch'`: {base:.2f} s (median of {len(imports)})")
    print(f"{'workers':>7}  {'s/submission':>12}  {'ratio to import torch':>21}")
    for w in workers:
        ratios = [s / i for s, i in zip(per_sub[w], imports, strict=True)]
        print(f"{w:>7}  {statistics.median(per_sub[w]):>12.2f}  {statistics.median(ratios):>21.2f}")

    print("\nwhere one submission's time goes (median over every submission graded, any worker count):")
    keys = sorted({k for t in timings for k in t}, key=lambda k: (k == "total", not k.startswith("stage"), k))
    for key in keys:
        values = [t.get(key, 0.0) for t in timings]
        print(f"  {key:<28} {statistics.median(values):6.2f} s")
    print("\nthe sandbox's own costs (median):")
    for label, values in micro.items():
        print(f"  {statistics.median(values):6.2f} s  {label}")
    print(f"\ngrader {pipeline.__version__}; rerun: python benchmarks/grading_speed.py "
          f"--copies {args.copies} --runs {args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
