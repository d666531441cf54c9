"""Resuming a batch: a rerun grades only what changed, and an interrupted or killed run loses at most the
submissions in flight. The bookkeeping tests grade the written answers only (no sandbox); the interruption
tests grade Jaccard, so that a submission takes long enough to be caught in flight."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import resume, summary
from grader.cli import main as cli_main
from grader.messages import text
from grader.progress import Progress
from grader.results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from grader.rubric import Rubric, load
from grader.settings import RunSettings
from tests.conftest import REPO, build_submission, pack

pytestmark = pytest.mark.slow


def _results(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("*/result.json"))}


def _inbox(tmp_path: Path, names: list[str]) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    folder = build_submission(tmp_path / "build")
    for name in names:
        pack(folder, inbox / f"{name}.tar.gz")
    return inbox


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One batch of two archives graded once, without --seed; each test works on its own copy."""
    tmp = tmp_path_factory.mktemp("resume")
    inbox = _inbox(tmp, ["alice", "bob"])
    out = tmp / "out"
    assert cli_main(["grade", str(inbox), "--out", str(out), "--checks", "answers*"]) == 0
    return inbox, out


@pytest.fixture
def batch(first_run, tmp_path):
    inbox, out = first_run
    shutil.copytree(inbox, tmp_path / "inbox")
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "inbox", tmp_path / "out"


def _grade(inbox: Path, out: Path, *extra: str) -> int:
    return cli_main(["grade", str(inbox), "--out", str(out), "--checks", "answers*", *extra])


def test_the_key_and_the_seed_are_recorded(batch):
    _, out = batch
    run = json.loads((out / "run.json").read_text())
    for sid in ("alice", "bob"):
        result = json.loads((out / sid / "result.json").read_text())
        stored = result["extra"]["resume"]
        assert stored["seed"] == result["environment"]["seed"] == run["seed"]
        assert stored["sha256"] == result["submission"]["sha256"] and stored["checks"] == ["answers*"]
        assert len(stored["key"]) == 64


def test_a_second_run_grades_nothing(batch, capsys):
    inbox, out = batch
    before = _results(out)
    assert _grade(inbox, out) == 0
    assert "Grading 0 of 2 submission(s) (2 kept" in capsys.readouterr().out
    assert _results(out) == before


def test_a_changed_archive_is_regraded(batch, tmp_path, capsys):
    inbox, out = batch
    before = _results(out)
    pack(build_submission(tmp_path / "changed", "jaccard_dice"), inbox / "bob.tar.gz")
    assert _grade(inbox, out) == 0
    assert "Grading 1 of 2" in capsys.readouterr().out
    after = _results(out)
    assert after["alice"] == before["alice"] and after["bob"] != before["bob"]
    sha = [json.loads(r["bob"])["extra"]["resume"]["sha256"] for r in (before, after)]
    assert sha[0] != sha[1]


def test_force_regrades_everything_with_the_folders_seed(batch, capsys):
    inbox, out = batch
    seed = json.loads((out / "run.json").read_text())["seed"]
    assert _grade(inbox, out, "--force") == 0
    assert "Grading 2 of 2" in capsys.readouterr().out
    assert {json.loads(r)["environment"]["seed"] for r in _results(out).values()} == {seed}


def test_another_seed_regrades_and_stays_the_folders(batch, capsys):
    inbox, out = batch
    assert _grade(inbox, out, "--seed", "99") == 0
    assert "Grading 2 of 2" in capsys.readouterr().out
    assert json.loads((out / "run.json").read_text())["seed"] == 99
    assert _grade(inbox, out) == 0  # the folder's seed is now 99: nothing to do
    assert "Grading 0 of 2" in capsys.readouterr().out


def test_keys_differ_by_every_part(tmp_path):
    base = RunSettings(out_dir=tmp_path, work_root=tmp_path, rubric=load(), seed=1, checks=["jaccard*"])
    variants = [RunSettings(out_dir=tmp_path, work_root=tmp_path, rubric=load(), seed=2, checks=["jaccard*"]),
                RunSettings(out_dir=tmp_path, work_root=tmp_path, rubric=load(), seed=1, checks=None),
                RunSettings(out_dir=tmp_path, work_root=tmp_path, rubric=load(), seed=1, checks=["jaccard*"],
                            profile="gpu", device="cuda:0"),
                RunSettings(out_dir=tmp_path, work_root=tmp_path, seed=1, checks=["jaccard*"],
                            rubric=Rubric({**load().table, "jaccard/batch": 9.0}, "mine.toml"))]
    keys = {resume.resume_key(resume.key_parts("a" * 64, s)) for s in [base, *variants]}
    keys.add(resume.resume_key(resume.key_parts("b" * 64, base)))
    assert len(keys) == 6


def test_the_seed_policy(tmp_path):
    assert resume.choose_seed(7, tmp_path) == (7, "--seed")
    drawn, origin = resume.choose_seed(None, tmp_path)
    assert origin == "drawn for this folder"
    settings = RunSettings(out_dir=tmp_path, work_root=tmp_path, rubric=load(), seed=drawn)
    resume.RunRecord.start(settings, 3).write(tmp_path)
    assert resume.choose_seed(None, tmp_path)[0] == drawn
    assert resume.choose_seed(8, tmp_path)[0] == 8


def _last_result_has(out: Path, sid: str, status: str) -> None:
    """Make `sid`'s last result one with a check of `status` (or a rejected archive)."""
    path = out / sid / "result.json"
    data = json.loads(path.read_text())
    if status == "rejected":
        data.update(status="rejected", error="not a tar archive", checks=[])
    else:
        data["checks"].append({"id": "jaccard/batch", "status": status, "score": 0.0, "max_score": 1.5,
                               "message": "x", "details": {}, "messages": {}})
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("kind, status", [("failed", "failed"), ("timeout", "timeout"), ("error", "error"),
                                          ("rejected", "rejected")])
def test_only_regrades_those_whose_last_result_says_so(batch, capsys, kind, status):
    inbox, out = batch
    _last_result_has(out, "bob", status)
    before = _results(out)
    assert _grade(inbox, out, "--only", kind) == 0
    assert "Grading 1 of 2 submission(s) (1 kept" in capsys.readouterr().out
    after = _results(out)
    assert after["alice"] == before["alice"]
    regraded = json.loads(after["bob"])
    assert regraded["status"] == "graded" and {c["status"] for c in regraded["checks"]} == {"skipped"}


def test_only_names_submissions_and_keeps_the_rest_whatever_their_key(batch, capsys):
    inbox, out = batch
    before = _results(out)
    # another seed would regrade everything; --only regrades just the one named, ignoring case
    assert _grade(inbox, out, "--only", "ALICE", "--seed", "5") == 0
    assert "Grading 1 of 2" in capsys.readouterr().out
    after = _results(out)
    assert after["bob"] == before["bob"] and json.loads(after["alice"])["environment"]["seed"] == 5
    # nothing in the last results failed: nothing to do
    assert _grade(inbox, out, "--only", "failed,timeout") == 0
    assert "Grading 0 of 2" in capsys.readouterr().out


def test_only_an_unknown_id_is_a_usage_error(batch, capsys):
    inbox, out = batch
    before = _results(out)
    assert _grade(inbox, out, "--only", "alicia") == 2
    err = capsys.readouterr().err
    assert "no submission 'alicia' in this batch" in err and "did you mean alice" in err
    assert _results(out) == before


def test_only_selects_a_student_by_the_id_in_the_name(tmp_path, capsys):
    inbox = _inbox(tmp_path, ["2024001_张三", "2024002_li"])
    out = tmp_path / "out"
    assert _grade(inbox, out) == 0
    pack(build_submission(tmp_path / "new"), inbox / "2024003_new.tar.gz")  # handed in late
    before = _results(out)
    assert _grade(inbox, out, "--only", "2024002,timeout") == 0
    said = capsys.readouterr().out
    assert "Grading 1 of 3 submission(s) (1 kept" in said
    # a submission with no result yet cannot be judged by "timeout": said, and not graded
    assert "1 submission(s) have no result yet and are not graded: 2024003_new" in said
    after = _results(out)
    assert sorted(after) == ["2024001_张三", "2024002_li"] and after["2024001_张三"] == before["2024001_张三"]


def test_workers_default_to_the_usable_cores_capped(monkeypatch):
    from grader import batch

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert batch.default_workers() == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert batch.default_workers() == 8
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert batch.default_workers() == 1


def test_hand_grades_an_earlier_version_merged_into_result_json_survive_force(batch, capsys):
    from grader.report.load import load_batch

    inbox, out = batch
    path = out / "alice" / "result.json"
    data = json.loads(path.read_text())
    q1 = next(c for c in data["checks"] if c["id"] == "answers/q1")
    q1.update(status="passed", score=q1["max_score"], details={
        **q1["details"], "automatic": {"status": "skipped", "score": 0.0, "message": "", "messages": {}},
        "override": {"by": "manual", "score": q1["max_score"], "previous_score": 0.0, "reason": "fine"}})
    path.write_text(json.dumps(data))
    assert _grade(inbox, out, "--force") == 0
    assert "Kept 1 hand grade(s) an earlier version merged into result.json" in capsys.readouterr().out
    assert json.loads(path.read_text())["score"] == 0  # the new automatic result
    alice = next(e.result for e in load_batch(out).entries if e.id == "alice")
    shown = next(c for c in alice.checks if c.id == "answers/q1")
    assert (shown.score, shown.details["override"]["reason"]) == (q1["max_score"], "fine")


def _start(inbox: Path, out: Path) -> subprocess.Popen:
    """The CLI in its own process, grading one submission at a time."""
    return subprocess.Popen([sys.executable, "-m", "grader.cli", "grade", str(inbox), "--out", str(out),
                             "--checks", "jaccard*", "--workers", "1"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the batch ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the batch")
        time.sleep(0.05)


def test_a_killed_run_resumes(tmp_path, capsys):
    inbox = _inbox(tmp_path, ["a1", "a2", "a3"])
    out = tmp_path / "out"
    proc = _start(inbox, out)
    _wait_for(lambda: (out / "a1" / "result.json").exists(), proc)
    os.kill(proc.pid, signal.SIGKILL)  # as a power cut would
    proc.communicate()
    finished = _results(out)
    assert "a1" in finished and len(finished) < 3
    assert all(json.loads(data)["extra"]["resume"] for data in finished.values())  # whole files only

    assert cli_main(["grade", str(inbox), "--out", str(out), "--checks", "jaccard*"]) == 0
    assert f"Grading {3 - len(finished)} of 3" in capsys.readouterr().out
    after = _results(out)
    assert sorted(after) == ["a1", "a2", "a3"]
    assert all(after[sid] == data for sid, data in finished.items())  # not regraded
    assert {json.loads(r)["environment"]["seed"] for r in after.values()} == \
        {json.loads((out / "run.json").read_text())["seed"]}


def test_ctrl_c_finishes_the_submission_in_flight(tmp_path):
    inbox = _inbox(tmp_path, ["b1", "b2", "b3"])
    out = tmp_path / "out"
    proc = _start(inbox, out)
    # b2 is in flight once its artifacts folder exists (made as soon as it is unpacked)
    _wait_for(lambda: (out / "b2" / "artifacts").exists(), proc)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again" in err
    assert sorted(_results(out)) == ["b1", "b2"]
    assert json.loads((out / "b2" / "result.json").read_text())["score"] == 10


def _result(sid: str, status: str = "graded", score: float = 1.0) -> SubmissionResult:
    checks = [CheckResult.make("jaccard/batch", "passed" if score else "timeout", 2.0, text("好", "ok"),
                               score=score)]
    env = Environment("0", isolation="bubblewrap (x)")
    return SubmissionResult(SubmissionInfo(sid, f"{sid}.tar.gz"), env, status=status,
                            checks=checks if status == "graded" else [], timings={"total": 1.5})


def test_progress_on_a_terminal_and_in_a_log():
    shown = io.StringIO()
    bar = Progress(2, stream=shown, tty=True)
    bar.started("alice")
    bar.finished(_result("alice"))
    bar.close()
    out = shown.getvalue()
    assert "grading: alice" in out and "\r\033[K[1/2] alice: 1/2 (1.5 s)\n" in out and "] 1/2  ETA" in out

    logged = io.StringIO()
    log = Progress(2, stream=logged, tty=False)
    for sid in ("alice", "bob"):
        log.started(sid)
        log.finished(_result(sid, score=0.0))
    log.close()
    assert logged.getvalue().splitlines() == ["[1/2] alice: 0/2, 1 checks failed (1.5 s) — ETA 0 s left",
                                              "[2/2] bob: 0/2, 1 checks failed (1.5 s)"]


def test_the_summary_table():
    results = [_result("a", score=2.0), _result("b", score=1.0), _result("c", score=0.0),
               _result("d", status="rejected")]
    table = summary.render(results, kept=1, wall_s=90, report_s=2, seed=7, seed_origin="--seed", found=None,
                           others=["old"])
    lines = table.splitlines()
    assert "  submissions  4: 3 graded now, 1 kept from an earlier run" in lines
    assert "  graded       3" in lines and "  rejected     1" in lines
    assert any(line.startswith("  timed out    1") for line in lines)
    assert any(line.startswith("  scores       min 0, median 1, mean 1.0, max 2 (of 2") for line in lines)
    histogram = [line.split()[-1] for line in lines if "%" in line]
    assert histogram == ["1", "0", "0", "0", "0", "1", "0", "0", "0", "1"]
    assert "  isolation    bubblewrap (x)" in lines and "  seed         7 (--seed)" in lines
    assert "  time         1 min 30 s (30 s per submission graded now), then 2.0 s writing the reports" \
        in lines
    assert lines[-1].endswith("not in this batch: old")
