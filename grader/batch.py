"""`unet-grader grade`: grade many submissions with N workers; one bad submission never stops the batch.

The batch reads as its steps: collect the archives, settle the run's settings (the folder's seed, see
`resume`), keep the results an earlier run already wrote for the same archive and settings, grade the
rest (each result.json written atomically as it finishes), match the roster, compare the submissions
(`--similarity`), render the reports, and print a summary. Ctrl-C stops taking new submissions and lets
those in flight finish; a second Ctrl-C abandons them. Either way a rerun of the same command grades only
what is left.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path
from typing import Any

from . import intake, late, pipeline, resume, roster, sandbox, summary
from .checks.registry import validate
from .messages import text
from .progress import Progress
from .results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from .rubric import Rubric
from .settings import RunSettings
from .training.profiles import PROFILES, ProfileError, resolve

USAGE = 2
NOTHING_GRADED = 3  # every archive rejected, every grading failed in the grader, or no submission found
INTERRUPTED = 130
MAX_DEFAULT_WORKERS = 8  # beyond this, memory (a sandbox and a network per submission) runs out first
LOCAL_WORKER = f"{socket.gethostname()} (local)"  # result.json's extra.worker; Dask names its worker


def _crash_result(source: intake.SubmissionSource, settings: RunSettings, exc: BaseException
                  ) -> SubmissionResult:
    """A grader failure on one submission still yields a result, so the batch goes on."""
    reason = text(f"评分程序内部错误（请联系助教）：{exc!r}", f"internal grader error (tell the TA): {exc!r}")
    env = Environment(grader_version=pipeline.__version__, device=settings.device, profile=settings.profile,
                      isolation=sandbox.probe().description, seed=settings.seed)
    return SubmissionResult(SubmissionInfo(source.id, source.path.name, source.sha256), env,
                            checks=[CheckResult.make("grader", "error", 0, reason)])


def grade_one(source: intake.SubmissionSource, settings: RunSettings,
              key: dict[str, Any] | None = None, worker: str = LOCAL_WORKER) -> SubmissionResult:
    """Grade, write result.json (with the resume key and who graded it), and remove the submission's
    scratch space.

    A grader crash is written without a key, so that the next run grades the submission again.
    """
    shutil.rmtree(settings.out_dir / source.id / "artifacts", ignore_errors=True)  # an earlier grading's
    try:
        result = pipeline.grade(source, settings)
        if key is not None:
            resume.stamp(result, key)
    except Exception as exc:  # noqa: BLE001 - reported in the result, never raised into the batch
        result = _crash_result(source, settings, exc)
    finally:
        shutil.rmtree(settings.work_root / source.id, ignore_errors=True)
    result.extra["worker"] = worker
    result.write(settings.out_dir / source.id / "result.json")
    return result


def was_graded(result: SubmissionResult) -> bool:
    """Whether the submission was graded: not rejected, and not a grader failure in place of its checks."""
    return result.status == "graded" and not any(c.id == "grader" for c in result.checks)


def _abandon(progress: Progress, running: int) -> None:
    """A second Ctrl-C: leave now. The sandboxes die with this process (bubblewrap's --die-with-parent)."""
    progress.close()
    print(f"\nunet-grader: abandoned {running} submission(s) in flight; rerun the same command to grade "
          "what is left", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(INTERRUPTED)


def grade_all(sources: list[intake.SubmissionSource], settings: RunSettings, workers: int = 1,
              progress: Progress | None = None, keys: dict[str, dict[str, Any]] | None = None
              ) -> tuple[list[SubmissionResult], bool]:
    """Grade every source with `workers` at once: (results in the order they finished, interrupted)."""
    progress = progress or Progress(len(sources))
    keys = keys or {}

    def job(source: intake.SubmissionSource) -> SubmissionResult:
        progress.started(source.id)
        result = grade_one(source, settings, keys.get(source.id))
        progress.finished(result)
        return result

    results: list[SubmissionResult] = []
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="grade")
    futures: list[Future[SubmissionResult]] = [pool.submit(job, s) for s in sources]
    pending = set(futures)
    try:
        while pending:
            try:
                for fut in as_completed(pending):
                    pending.discard(fut)
                    if not fut.cancelled():
                        results.append(fut.result())
            except KeyboardInterrupt:
                if interrupted:
                    _abandon(progress, sum(f.running() for f in pending))
                interrupted = True
                for fut in pending:
                    fut.cancel()
                running = sum(f.running() for f in pending)
                print(f"\nunet-grader: interrupted; finishing the {running} submission(s) in flight "
                      "(Ctrl-C again to abandon them)", file=sys.stderr, flush=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
    return results, interrupted


def _render_reports(out_dir: Path, lang: str) -> None:
    """The pages and the gradebook, from the result.json files (`unet-grader report` redoes just this)."""
    from .report import render_all
    from .report.load import ReportError

    try:
        render_all(out_dir, lang=lang)
    except ReportError as exc:
        print(f"unet-grader: the reports could not be written: {exc}", file=sys.stderr)


def _write_similarity(out_dir: Path, echo) -> None:
    """DIR/similarity.html; its failure is said and never costs the grades or the dashboard."""
    from . import similarity

    try:
        similarity.main(out_dir=out_dir, echo=echo)
    except Exception as exc:  # noqa: BLE001 - an analysis bug must not stop the reports
        print(f"unet-grader: the similarity report could not be written ({exc!r}); the grades are unaffected. "
              f"Run `unet-grader similarity {out_dir}` to retry.", file=sys.stderr)


def _keep_legacy_hand_grades(out_dir: Path, echo) -> bool:
    """Hand grades an earlier version wrote into result.json go to DIR/_manual.json before any regrade;
    False (said why) when that store cannot be read, since regrading could then lose them."""
    from .report import handgrades
    from .report.load import ReportError

    try:
        adopted = handgrades.adopt_legacy(out_dir)
    except ReportError as exc:
        print(f"unet-grader: {exc}", file=sys.stderr)
        return False
    if adopted:
        echo(f"Kept {adopted} hand grade(s) an earlier version merged into result.json: now in "
             f"{out_dir / handgrades.STORE_FILE}")
    return True


def _apply_deadline(out_dir: Path, sources: list[intake.SubmissionSource], due: late.Deadline, echo) -> None:
    """The late penalty, recomputed for every submission on every run (a stat and a CSV read), so that a new
    deadline or times file never needs a regrade; the resume key leaves it out for the same reason."""
    missing = late.apply(out_dir, sources, due)
    where = f"times from {due.times}" if due.times else "times from the files' modification times"
    echo(f"Late policy applied: deadline {due.at.isoformat()}, {where}")
    if missing:
        print(f"unet-grader: {len(missing)} submission(s) not in {due.times}, their file time used instead: "
              + ", ".join(missing), file=sys.stderr)


def _load_roster(path: Path | None, out_dir: Path) -> tuple[list[roster.Student], str] | None:
    """The roster named on the command line, else the one the folder's roster.json keeps."""
    if path is not None:
        return roster.read_roster(path), str(path)
    return roster.kept_roster(out_dir)


def default_workers() -> int:
    """`--workers` when not given: one per core this process may use, at most MAX_DEFAULT_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


def _plan(sources: list[intake.SubmissionSource], out_dir: Path, keys: dict[str, dict[str, Any]],
          force: bool, only: list[str] | None, echo) -> tuple[dict[str, SubmissionResult], list[str]]:
    """(the results to keep, the ids to grade now). `only` keeps every result it does not select; a
    submission it cannot judge (no result yet) is neither graded nor kept, and said so."""
    if only is None:
        earlier = {} if force else {s.id: resume.previous(out_dir, s.id, keys[s.id]) for s in sources}
        kept = {sid: r for sid, r in earlier.items() if r is not None}
        return kept, [s.id for s in sources if s.id not in kept]
    chosen, unjudged = resume.select(only, {s.id: s.path.name for s in sources}, out_dir)
    if unjudged:
        echo(f"--only: {len(unjudged)} submission(s) have no result yet and are not graded: "
             f"{', '.join(unjudged)} (name them, or run without --only)")
    kept = {s.id: r for s in sources if s.id not in chosen and (r := resume.last(out_dir, s.id)) is not None}
    return kept, [s.id for s in sources if s.id in chosen]


def main(*, paths: list[Path], out_dir: Path, workers: int, checks: list[str] | None, profile: str,
         seed: int | None, rubric: Rubric, force: bool = False, roster_csv: Path | None = None,
         lang: str = "both", scheduler: str | None = None, similarity: bool = False,
         only: list[str] | None = None, unsandboxed: bool = False, echo=print,
         deadline: datetime | None = None, times_csv: Path | None = None) -> int:
    """Grade a batch into `out_dir`; exit 0 when the batch was graded, whatever the students scored,
    2 for a usage error (found before any submission is opened: a rubric or `checks` that does not fit the
    check ids, a missing path) or when no sandbox can run here (unless `unsandboxed` accepts the risk),
    3 when nothing could be graded (no submission found, every archive rejected), 130 when interrupted.
    `scheduler` grades on Dask instead (see `distributed`); `similarity` also writes DIR/similarity.html,
    before the dashboard that links it; `only` regrades just the submissions it selects (see
    `resume.select`). Hand grades (DIR/_manual.json) are never touched: the reports merge them over the
    new results. `deadline` (else the one DIR/late.json keeps) applies the rubric's late penalty, from
    `times_csv` or the files' times."""
    try:
        validate(rubric, checks)
        sources = intake.collect(paths)
        class_list = _load_roster(roster_csv, out_dir)
        chosen = resolve(profile) if scheduler is None or profile != "gpu" else PROFILES["gpu"]  # GPUs on workers
        due = late.settle(out_dir, deadline, times_csv, rubric.late)
    except (ValueError, ProfileError) as exc:  # RosterError and LateError are ValueErrors
        print(f"unet-grader: {exc}", file=sys.stderr)
        return USAGE
    if not sources:
        print("unet-grader: no submissions found in " + ", ".join(map(str, paths)) + " (archives .tar.gz .tgz "
              ".tar .zip, week-06 folders, or folders holding them)", file=sys.stderr)
        return NOTHING_GRADED
    iso = sandbox.probe()
    if scheduler is None and not iso.bubblewrap and not unsandboxed:
        print(f"unet-grader: {sandbox.refusal(iso)}", file=sys.stderr)
        return USAGE
    out_dir.mkdir(parents=True, exist_ok=True)
    if not _keep_legacy_hand_grades(out_dir, echo):
        return USAGE
    seed, seed_origin = resume.choose_seed(seed, out_dir)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=sandbox.leftovers.prefix("work")) as work:
        settings = RunSettings(out_dir=out_dir.resolve(), work_root=Path(work), rubric=rubric, seed=seed,
                               profile=chosen.name, device=chosen.device, checks=checks)
        keys = {s.id: resume.key_parts(s.sha256, settings) for s in sources}
        try:
            kept, to_grade = _plan(sources, out_dir, keys, force, only, echo)
        except resume.SelectionError as exc:
            print(f"unet-grader: {exc}", file=sys.stderr)
            return 2
        todo = [s for s in sources if s.id in to_grade]
        record = resume.RunRecord.start(settings, len(sources))
        record.write(out_dir)
        where = f"on Dask ({scheduler})" if scheduler else f"with {workers} worker(s)"
        echo(f"Grading {len(todo)} of {len(sources)} submission(s) ({len(kept)} kept from an earlier run) "
             f"{where}, seed {seed} ({seed_origin}), profile {chosen.name} on "
             f"{chosen.device}; isolation: {iso.description}")
        if scheduler is None:
            fresh, interrupted = grade_all(todo, settings, workers, Progress(len(todo)), keys)
        else:
            from .distributed import DaskError, grade_on_dask

            try:
                fresh, interrupted = grade_on_dask(todo, settings, scheduler, Progress(len(todo)), keys, echo)
            except DaskError as exc:
                print(f"unet-grader: {exc}", file=sys.stderr)
                return USAGE
    if interrupted:
        print(f"unet-grader: {len(fresh)} of {len(todo)} graded before the interruption; run the same "
              "command again to grade the rest", file=sys.stderr)
        return INTERRUPTED
    wall = time.perf_counter() - start
    record.finish(out_dir, graded_now=len(fresh), kept=len(kept))
    if due is not None:
        _apply_deadline(out_dir, sources, due, echo)
    found = None
    if class_list is not None:
        students, roster_name = class_list
        found = roster.match(students, sources)
        roster.write(out_dir, found, roster_name)
    if similarity:
        _write_similarity(out_dir, echo)
    rendering = time.perf_counter()
    _render_reports(out_dir, lang)
    report_s = time.perf_counter() - rendering
    ids = {s.id for s in sources}
    others = sorted(p.parent.name for p in out_dir.glob("*/result.json") if p.parent.name not in ids)
    echo(summary.render([*kept.values(), *fresh], kept=len(kept), wall_s=wall, report_s=report_s, seed=seed,
                        seed_origin=seed_origin, found=found, others=others))
    echo(f"Results in {out_dir}/; open {out_dir / 'index.html'} for the class dashboard")
    results = [*kept.values(), *fresh]
    if not any(map(was_graded, results)):
        print(f"unet-grader: none of the {len(results)} submission(s) could be graded (each was rejected or "
              "failed in the grader: see the summary above)", file=sys.stderr)
        return NOTHING_GRADED
    return 0
