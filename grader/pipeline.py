"""Grade one submission: intake -> sandboxed stages -> judging -> result.json.

Runs in the grader's own (trusted) process. Student code only ever runs inside `sandbox.run`, in the
in-sandbox supervisor `grader.runner`. Inputs reach it on its stdin and its outputs come back on a pipe
(`grader.stagerun`, `grader.protocol`): after the sandbox ran, the parent reads no file of the box.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from . import __version__, intake, sandbox, stagerun
from .checks.base import CheckContext, CheckGroup, StageOutputs, StageRequest, matches, read_channel
from .checks.registry import selected
from .messages import Text, text
from .results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from .settings import RunSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
SANDBOX_SLACK_S = 30.0
SOURCE_COPY_CAP = 5 * 2**20


def _environment(settings: RunSettings, isolation: str) -> Environment:
    return Environment(grader_version=__version__, device=settings.device, profile=settings.profile,
                       isolation=isolation, seed=settings.seed)


def _all_skipped(groups: list[CheckGroup], ctx: CheckContext, reason: Text) -> list[CheckResult]:
    return [c for g in groups for c in g.not_run(ctx, reason)]


def _hidden_paths(settings: RunSettings, box: Path) -> list[Path]:
    """What the student must not see: the repo (solutions, rubric, tests), the reports, other submissions,
    and the grader user's home (a root grader maps the sandbox user to root for file permissions)."""
    hidden = [settings.out_dir.resolve(), settings.work_root.resolve(), Path.home().resolve()]
    if (REPO_ROOT / "pyproject.toml").exists():
        hidden.append(REPO_ROOT)
    hidden.append(Path(__file__).resolve().parent)
    return [p for p in dict.fromkeys(hidden) if box.resolve() != p]


def _layout(box: Path, unpacked: intake.Unpacked) -> Path:
    """The sandbox root: the student's files, the runner, an empty scratch folder (no inputs, no outputs)."""
    if box.exists():
        shutil.rmtree(box)
    for sub in ("lib", "scratch"):
        (box / sub).mkdir(parents=True)
    shutil.copytree(unpacked.root, box / "submission", symlinks=False)
    stagerun.install_runner(box / "lib")
    return box / "submission"


def _keep_sources(unpacked: intake.Unpacked, dest: Path) -> None:
    """A copy of what the student wrote (unet/*.py, the notebook) for the reports and the similarity check."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = list((unpacked.root / "unet").glob("*.py")) if (unpacked.root / "unet").is_dir() else []
    if unpacked.notebook is not None:
        wanted.append(unpacked.notebook)
    for path in wanted:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= SOURCE_COPY_CAP:
            target = dest / path.relative_to(unpacked.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _run_stages(box: Path, stages: list[StageRequest], settings: RunSettings, ctx: CheckContext,
                hide: list[Path]) -> tuple[sandbox.SandboxOutcome, dict[str, StageOutputs]]:
    """Run every stage in one sandbox; what each sent back, parsed from the channel."""
    inside = sandbox.inside_root(box)
    isolated = sandbox.probe().bubblewrap
    stages = stagerun.in_order(stages)
    plan = stagerun.plan(stages, submission=f"{inside}/submission", lib=f"{inside}/lib", scratch=f"{inside}/scratch",
                         tmp=("/tmp", "/dev/shm") if isolated else (), threads=settings.threads,
                         pid_namespace=isolated)
    limits = sandbox.Limits(
        timeout_s=sum(s.timeout_s for s in stages) + SANDBOX_SLACK_S,
        memory_mb=max(s.memory_mb for s in stages) + 1024,
        cpus=float(settings.threads),
    )
    argv = [sys.executable, "-I", "-c", stagerun.BOOTSTRAP, f"{inside}/lib"]
    outcome = sandbox.run(box, argv, limits=limits, scratch=["scratch"], hide=hide, cwd="scratch",
                          gpu=any(s.uses_gpu for s in stages), stdin=stagerun.feeder(plan, stages, ctx),
                          channel=True)
    return outcome, read_channel(outcome.channel, [s.name for s in stages])


def _grader_error(group: CheckGroup, ctx: CheckContext, exc: Exception) -> list[CheckResult]:
    reason = text(f"评分程序内部错误（请联系助教）：{exc!r}", f"internal grader error (tell the TA): {exc!r}")
    return [CheckResult.make(cid, "error", ctx.points(cid), reason) for cid in group.check_ids(ctx)]


def _prepare(groups: list[CheckGroup], ctx: CheckContext) -> tuple[list[StageRequest], dict[str, list[CheckResult]]]:
    """Every group's stages; a group whose `prepare` fails gets its checks as errors instead (by group id)."""
    stages: list[StageRequest] = []
    failed: dict[str, list[CheckResult]] = {}
    for group in groups:
        try:
            stages.extend(group.prepare(ctx))
        except Exception as exc:  # a grader bug must cost this group, never the batch
            failed[group.group] = _grader_error(group, ctx, exc)
    return stages, failed


def _judge(groups: list[CheckGroup], ctx: CheckContext, outputs: dict[str, StageOutputs],
           failed: dict[str, list[CheckResult]] | None = None) -> list[CheckResult]:
    checks: list[CheckResult] = []
    for group in groups:
        if failed and group.group in failed:
            checks.extend(failed[group.group])
            continue
        try:
            checks.extend(group.judge(ctx, outputs))
        except Exception as exc:  # a grader bug must cost this group, never the batch
            checks.extend(_grader_error(group, ctx, exc))
    return checks


def grade(source: intake.SubmissionSource, settings: RunSettings) -> SubmissionResult:
    """Grade one submission. Never raises for anything the submission does."""
    start = time.perf_counter()
    timings: dict[str, float] = {}
    work = settings.work_root / source.id
    info = SubmissionInfo(id=source.id, source=source.path.name, sha256=source.sha256)
    artifacts = settings.out_dir / source.id / "artifacts"
    ctx = CheckContext(submission_dir=work / "box" / "submission", notebook=None, seed=settings.seed,
                       profile=settings.profile, rubric=settings.rubric, io_root=work / "inputs",
                       artifacts_dir=artifacts, public_only=settings.public_only)
    groups = selected(ctx, settings.checks)
    isolation = sandbox.probe().description
    try:
        unpacked = intake.unpack(source, work / "unpacked", settings.caps)
    except intake.Rejected as exc:
        result = SubmissionResult(info, _environment(settings, isolation), status="rejected", error=str(exc),
                                  checks=_all_skipped(groups, ctx, exc.reason))
        result.timings = {"total": round(time.perf_counter() - start, 3)}
        return result
    timings["intake"] = time.perf_counter() - start

    t = time.perf_counter()
    ctx.submission_dir = _layout(work / "box", unpacked)
    if unpacked.notebook is not None:
        ctx.notebook = ctx.submission_dir / unpacked.notebook.relative_to(unpacked.root)
        ctx.pristine_notebook = unpacked.notebook
    artifacts.mkdir(parents=True, exist_ok=True)
    _keep_sources(unpacked, artifacts / "submission")
    stages, failed = _prepare(groups, ctx)
    timings["prepare"] = time.perf_counter() - t

    logs: dict[str, str] = {}
    outputs: dict[str, StageOutputs] = {}
    if stages:
        t = time.perf_counter()
        outcome, outputs = _run_stages(work / "box", stages, settings, ctx, _hidden_paths(settings, work / "box"))
        isolation = outcome.isolation
        timings["sandbox"] = time.perf_counter() - t
        if outcome.output.strip():
            logs["sandbox"] = outcome.output
    for name, out in outputs.items():
        timings[f"stage:{name}"] = float(out.status.get("wall_s") or 0.0)
        if log := out.log():
            logs[name] = log
    if stages:  # starting the sandbox and python, importing torch once, tearing down
        timings["sandbox_overhead"] = timings["sandbox"] - sum(timings[f"stage:{s.name}"] for s in stages)

    # judging reads the grader's own copy from intake, never the box that student code has run in
    ctx.submission_dir, ctx.notebook = unpacked.root, unpacked.notebook
    t = time.perf_counter()
    checks = [c for c in _judge(groups, ctx, outputs, failed) if matches(c.id, settings.checks)]
    timings["judge"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start
    return SubmissionResult(info, _environment(settings, isolation), checks=checks,
                            timings={k: round(v, 3) for k, v in timings.items()}, logs=logs,
                            extra={"warnings": [w.both() for w in unpacked.warnings]} if unpacked.warnings else {})
