"""`unet-grader grade`: grade many submissions with N workers; one bad submission never stops the batch."""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import intake, pipeline, sandbox
from .messages import text
from .results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from .rubric import Rubric
from .settings import RunSettings


def _crash_result(source: intake.SubmissionSource, settings: RunSettings, exc: BaseException) -> SubmissionResult:
    """A grader failure on one submission still yields a result, so the batch goes on."""
    reason = text(f"评分程序内部错误（请联系助教）：{exc!r}", f"internal grader error (tell the TA): {exc!r}")
    env = Environment(grader_version=pipeline.__version__, device=settings.device, profile=settings.profile,
                      isolation=sandbox.probe().description, seed=settings.seed)
    return SubmissionResult(SubmissionInfo(source.id, source.path.name, source.sha256), env,
                            checks=[CheckResult.make("grader", "error", 0, reason)])


def grade_one(source: intake.SubmissionSource, settings: RunSettings) -> SubmissionResult:
    """Grade, write result.json, and remove the submission's scratch space."""
    try:
        result = pipeline.grade(source, settings)
    except Exception as exc:  # noqa: BLE001 - reported in the result, never raised into the batch
        result = _crash_result(source, settings, exc)
    finally:
        shutil.rmtree(settings.work_root / source.id, ignore_errors=True)
    result.write(settings.out_dir / source.id / "result.json")
    return result


def summary_line(result: SubmissionResult, done: int, total: int) -> str:
    if result.status == "rejected":
        verdict = f"rejected: {result.error}"
    else:
        failed = sum(c.status in ("failed", "error", "timeout") for c in result.checks)
        verdict = f"{result.score:g}/{result.max_score:g}" + (f", {failed} checks failed" if failed else "")
    return f"[{done}/{total}] {result.submission.id}: {verdict} ({result.timings.get('total', 0):.1f} s)"


def grade_all(sources: list[intake.SubmissionSource], settings: RunSettings, workers: int = 1,
              echo=print) -> list[SubmissionResult]:
    """Grade every source with `workers` at once; results in the order they finish."""
    results: list[SubmissionResult] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(grade_one, s, settings) for s in sources]
        for fut in as_completed(futures):
            results.append(fut.result())
            echo(summary_line(results[-1], len(results), len(sources)))
    return results


def main(*, paths: list[Path], out_dir: Path, workers: int, checks: list[str] | None, profile: str,
         seed: int | None, rubric: Rubric, echo=print) -> int:
    """Grade a batch into `out_dir`; exit 0 when the batch was graded, whatever the students scored."""
    try:
        sources = intake.collect(paths)
    except ValueError as exc:
        print(f"unet-grader: {exc}", file=sys.stderr)
        return 2
    if not sources:
        print("unet-grader: no submissions found in " + ", ".join(map(str, paths)), file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    iso = sandbox.probe()
    seed = seed if seed is not None else secrets.randbelow(2**31)
    echo(f"Grading {len(sources)} submission(s) with {workers} worker(s), seed {seed}; isolation: {iso.description}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unet-grader-") as work:
        settings = RunSettings(out_dir=out_dir.resolve(), work_root=Path(work), rubric=rubric, seed=seed,
                               profile=profile, checks=checks)
        results = grade_all(sources, settings, workers, echo)
    graded = sum(r.status == "graded" for r in results)
    echo(f"Done in {time.perf_counter() - start:.1f} s: {graded} graded, {len(results) - graded} rejected. "
         f"Results in {out_dir}/")
    return 0
