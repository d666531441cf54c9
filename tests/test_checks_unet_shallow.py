"""UNet_shallow (Q6) checks on fixture submissions, each graded by all five week-6 groups at once.

`graded(fixture)` runs jaccard, unet_shallow, up_add, unet_add and deconv2d over one fixture submission
in a single runner run and caches the result for the session, so each fixture costs one run however
many tests read it. The runs are forked from one warm process that imported torch once (`WarmRunner`),
as the real supervisor forks its stages. The helpers are shared with the up_add, unet_add and deconv2d
test modules: every correct fixture gets full marks everywhere, every faulty one fails exactly the
groups it breaks.
"""

from __future__ import annotations

import atexit
import select
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from grader.checks.base import CheckContext, CheckGroup
from grader.checks.deconv2d import Deconv2dGroup
from grader.checks.jaccard import JaccardGroup
from grader.checks.netprobe import downsamplings
from grader.checks.unet_add import UNetAddGroup
from grader.checks.unet_shallow import UNetShallowGroup
from grader.checks.up_add import UpAddGroup
from grader.rubric import load
from grader.runner.probe import skip_reach, trace
from tests.conftest import build_submission, by_id, run_group_direct

GROUPS = ("jaccard", "unet_shallow", "up_add", "unet_add", "deconv2d")
_GRADED: dict[tuple, dict] = {}

# Imports torch once, then forks one child per plan; the child runs the supervisor exactly as the
# bootstrap would (cwd, sys.path, argv), with its stdin/stdout pointed away from the protocol.
_SERVER = """
import os, runpy, sys
import numpy, torch
for line in sys.stdin:
    lib, feed, channel, cwd = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.chdir(cwd)
            sys.path.insert(0, lib)
            sys.argv = ["-c", feed, channel]
            runpy.run_module("grader_runner", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        finally:
            os._exit(code)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class WarmRunner:
    """A `launch` for run_group_direct that forks each runner from a process that already imported torch."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def __call__(self, lib: Path, args: list[str], cwd: Path, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _SERVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
            atexit.register(self.proc.kill)
        self.proc.stdin.write("\t".join([str(lib), *args, str(cwd)]) + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.proc.kill()
            raise TimeoutError(f"the runner did not finish {args[0]} within {timeout} s")
        assert self.proc.stdout.readline().strip() == "0"


WARM_RUNNER = WarmRunner()


class AllGroups(CheckGroup):
    """The five groups as one, so that a submission needs one runner process instead of five."""

    group = "all"

    def __init__(self) -> None:
        self.parts = [JaccardGroup(), UNetShallowGroup(), UpAddGroup(), UNetAddGroup(), Deconv2dGroup()]

    def check_ids(self, ctx):
        return [cid for g in self.parts for cid in g.check_ids(ctx)]

    def prepare(self, ctx):
        return [stage for g in self.parts for stage in g.prepare(ctx)]

    def judge(self, ctx, outputs):
        return [result for g in self.parts for result in g.judge(ctx, outputs)]


def grading(root: Path):
    """`grade(fixture, seed=1234, public_only=False)` -> {check id: CheckResult}, graded once per session."""

    def grade(fixture: str | None, *, seed: int = 1234, public_only: bool = False) -> dict:
        key = (fixture, seed, public_only)
        if key not in _GRADED:
            work = root / f"{fixture or 'solution'}-{seed}-{int(public_only)}"
            sub = build_submission(work, fixture)
            results = run_group_direct(AllGroups(), sub, work / "run", seed=seed, public_only=public_only,
                                       notebook=sub / "Assignment.ipynb", launch=WARM_RUNNER)
            _GRADED[key] = by_id(results)
        return _GRADED[key]

    return grade


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return grading(tmp_path_factory.mktemp("graded"))


def group_of(check_id: str) -> str:
    return check_id.split("/")[0]


def lost(results: dict) -> dict[str, str]:
    """The checks that lost points, with their messages."""
    return {cid: r.message for cid, r in results.items() if r.score < r.max_score}


def assert_full_marks(results: dict) -> None:
    assert {group_of(c) for c in results} == set(GROUPS)
    assert lost(results) == {}


def assert_breaks(results: dict, groups: set[str], failing: dict[str, str], status: str = "failed") -> None:
    """Only `groups` lose points; each check in `failing` fails with a message containing its phrase."""
    assert {group_of(c) for c in lost(results)} == groups, lost(results)
    for cid, phrase in failing.items():
        assert results[cid].status == status, (cid, results[cid].message)
        assert phrase in results[cid].messages["en"], (cid, results[cid].messages["en"])
        assert results[cid].messages["zh"] != results[cid].messages["en"]


def context(tmp_path: Path, seed: int, public_only: bool = False) -> CheckContext:
    """A parent-side context for looking at a group's cases without running anything."""
    return CheckContext(submission_dir=tmp_path, notebook=None, seed=seed, profile="cpu", rubric=load(),
                        io_root=tmp_path / f"io-{seed}-{int(public_only)}",
                        artifacts_dir=tmp_path / "artifacts", public_only=public_only)


@pytest.mark.parametrize("fixture", [None, "shallow_64_128_256", "shallow_own_blocks", "shallow_add_skips"])
def test_correct_shallow_nets_get_full_marks(graded, fixture):
    results = graded(fixture)
    assert_full_marks(results)
    assert results["unet_shallow/skip-connections"].details["cases"][0]["skip_gradient"] > 0


@pytest.mark.parametrize("fixture, failing", [
    ("shallow_three_downs", {"unet_shallow/two-downsamplings": "3 downsamplings found"}),
    ("shallow_no_skips", {"unet_shallow/skip-connections": "no skip connection at 16x24"}),
    ("shallow_plain_list", {"unet_shallow/trainable": "plain list"}),
])
def test_each_structural_mistake_fails_its_own_check(graded, fixture, failing):
    results = graded(fixture)
    assert_breaks(results, {"unet_shallow"}, failing)
    assert set(lost(results)) == set(failing)


def test_the_full_unet_is_not_a_shallow_one(graded):
    results = graded("shallow_full_unet")
    assert_breaks(results, {"unet_shallow"}, {"unet_shallow/two-downsamplings": "4 downsamplings found"})
    assert "full UNet" in results["unet_shallow/two-downsamplings"].messages["en"]
    assert results["unet_shallow/skip-connections"].status == "passed"
    assert results["unet_shallow/trainable"].status == "passed"


@pytest.mark.parametrize("fixture", ["shallow_returns_none", "shallow_empty"])
def test_a_forward_without_return_fails_every_check_clearly(graded, fixture):
    results = graded(fixture)
    ids = [c for c in results if group_of(c) == "unet_shallow"]
    assert_breaks(results, {"unet_shallow"}, {c: "returned None, not a tensor" for c in ids})
    assert all("Traceback" not in results[c].message for c in ids)


def test_the_unfilled_skeleton_fails_with_a_clear_message(graded):
    results = graded("shallow_skeleton")
    ids = [c for c in results if group_of(c) == "unet_shallow"]
    assert_breaks(results, {"unet_shallow"}, {c: "not implemented yet" for c in ids}, status="error")


def test_the_self_checks_public_cases_pass_the_reference(graded):
    assert_full_marks(graded(None, seed=7, public_only=True))


def test_hidden_shapes_follow_the_seed_and_the_public_seed_is_fixed(tmp_path):
    group = UNetShallowGroup()
    a, b = group._shapes(context(tmp_path, 1)), group._shapes(context(tmp_path, 2))
    assert a == group._shapes(context(tmp_path, 1))
    assert a != b
    assert group._shapes(context(tmp_path, 1, True)) == group._shapes(context(tmp_path, 2, True))
    assert all(s[2] % 4 == 0 and s[3] % 4 == 0 for s in a.values())


class _EncoderDecoder(nn.Module):
    """A two-level toy net: `skip` picks how (or whether) the fine encoder map reaches the decoder."""

    def __init__(self, skip: str):
        super().__init__()
        self.skip = skip
        self.enc = nn.Conv2d(1, 4, 3, padding=1)
        self.mid = nn.Conv2d(4, 4, 3, padding=1)
        self.dec = nn.Conv2d(8 if skip == "concat" else 4, 2, 3, padding=1)
        self.raw = nn.Conv2d(5, 2, 1)

    def forward(self, x):
        e = torch.relu(self.enc(x))
        u = nn.functional.interpolate(torch.relu(self.mid(nn.functional.max_pool2d(e, 2))), scale_factor=2)
        if self.skip == "concat":
            return self.dec(torch.cat([e, u], dim=1))
        if self.skip == "add":
            return self.dec(e + u)
        out = self.dec(u)
        # "input": the raw image joins at the end, which is no skip from the encoder
        return self.raw(torch.cat([out, x, x, x], dim=1)) if self.skip == "input" else out


@pytest.mark.parametrize("skip, found", [("concat", True), ("add", True), ("none", False), ("input", False)])
def test_the_probe_finds_a_skip_path_whatever_joins_it(skip, found):
    torch.manual_seed(0)
    net = _EncoderDecoder(skip).eval()
    x = torch.randn(1, 1, 8, 12)
    with torch.no_grad():
        out, calls, joins = trace(net, x)
    (level,) = skip_reach(net, x, calls, out.shape)
    assert level["size"] == [8, 12] and level["total"] > 0
    assert (level["direct"] > 1e-6 * level["total"]) is found
    assert bool(joins) is (skip in ("concat", "input"))


@pytest.mark.parametrize("size, low, count", [((32, 32), (8, 8), 2), ((16, 24), (4, 6), 2),
                                              ((32, 32), (2, 2), 4), ((16, 24), (4, 4), None),
                                              ((12, 12), (5, 5), None)])
def test_downsamplings_count_whole_halvings_only(size, low, count):
    assert downsamplings(size, low) == count
