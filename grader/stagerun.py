"""The parent's side of the supervisor protocol: install the runner, send the plan and inputs, read outputs.

Used by the pipeline (inside the sandbox) and by trusted runs without one (calibration, the tests' harness).
Inputs stay in the parent's own folders (`CheckContext.stage_inputs`) and reach the supervisor on its stdin,
one stage at a time; outputs come back as frames (see `grader.protocol`) and are parsed into StageOutputs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import protocol
from .checks.base import CheckContext, StageOutputs, StageRequest, read_channel

RUNNER_SOURCE = Path(__file__).with_name("runner")
PROTOCOL_SOURCE = Path(__file__).with_name("protocol.py")
BOOTSTRAP = ("import sys, runpy; sys.path.insert(0, sys.argv[1]); del sys.argv[1]; "
             "runpy.run_module('grader_runner', run_name='__main__', alter_sys=True)")


def install_runner(lib: Path) -> None:
    """The runner as the package `grader_runner` under `lib`, with its copy of the protocol beside it."""
    shutil.copytree(RUNNER_SOURCE, lib / "grader_runner", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                    dirs_exist_ok=True)
    shutil.copyfile(PROTOCOL_SOURCE, lib / "grader_runner" / "protocol.py")


def in_order(stages: list[StageRequest]) -> list[StageRequest]:
    """Numpy-only stages first: the supervisor forks them before it imports torch."""
    return sorted(stages, key=lambda s: s.handler not in protocol.NUMPY_ONLY)


def plan(stages: list[StageRequest], *, submission: str, lib: str, scratch: str, tmp: tuple[str, ...] = (),
         threads: int = 1, pid_namespace: bool = False) -> protocol.Plan:
    """The plan for `stages` (already `in_order`), with paths as the supervisor sees them."""
    return protocol.Plan(submission=submission, lib=lib, scratch=scratch, tmp=tmp, threads=threads,
                         pid_namespace=pid_namespace,
                         stages=tuple(protocol.StagePlan(s.name, s.handler, float(s.timeout_s), int(s.memory_mb),
                                                         bool(s.uses_gpu)) for s in stages))


def _input_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def feeder(the_plan: protocol.Plan, stages: list[StageRequest], ctx: CheckContext) -> Callable[[BinaryIO], None]:
    """What writes the supervisor's stdin: the plan, then each stage's task and files, read only when sent.

    The pipe holds little, so stage k+1's frame is taken only once stage k has ended.
    """

    def feed(stream: BinaryIO) -> None:
        protocol.write_frame(stream, the_plan.header())
        for s in stages:
            header, parts = protocol.StageInput(s.name, s.task, _input_files(ctx.stage_inputs(s.name))).frame()
            protocol.write_frame(stream, header, parts)

    return feed


def start_trusted(lib: Path, args: list[str], cwd: Path, timeout: float) -> None:
    """Run the supervisor from `lib` with `args` (its feed and channel files) as a fresh process."""
    subprocess.run([sys.executable, "-I", "-c", BOOTSTRAP, str(lib), *args], cwd=cwd, check=True, timeout=timeout)


def run_trusted(box: Path, submission: Path, stages: list[StageRequest], ctx: CheckContext, *, threads: int = 1,
                launch: Callable[[Path, list[str], Path, float], None] = start_trusted) -> dict[str, StageOutputs]:
    """The supervisor WITHOUT a sandbox, for trusted code only (the reference, the tests' fixtures).

    The same protocol runs, through two files instead of the pipes: `box` gets the runner and a scratch folder.
    """
    stages = in_order(stages)
    lib, scratch = box / "lib", box / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    install_runner(lib)
    the_plan = plan(stages, submission=str(submission), lib=str(lib), scratch=str(scratch), threads=threads)
    feed, channel = box / "feed.bin", box / "channel.bin"
    with open(feed, "wb") as fh:
        feeder(the_plan, stages, ctx)(fh)
    if stages:
        launch(lib, [str(feed), str(channel)], submission, sum(s.timeout_s for s in stages) + 60)
    return read_channel(channel.read_bytes() if channel.exists() else b"", [s.name for s in stages])
