"""Start-up clean-up: what a killed grader left (cgroups, work folders with students' files) goes; a live
grader's things stay; SIGTERM makes a grader remove its own before it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from grader.sandbox import cgroups, leftovers

REPO = Path(__file__).resolve().parents[1]
# a grader as `grade` runs one: its work folder holds a student's file, one sandbox runs in a thread
GRADER = """
    import sys, tempfile, threading, time
    from pathlib import Path
    from grader import sandbox
    from grader.sandbox import Limits, leftovers

    leftovers.exit_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix=leftovers.prefix("work")))
    box = work / "2021001" / "box"
    for name in ("submission", "lib", "scratch"):
        (box / name).mkdir(parents=True)
    (box / "submission" / "unet.py").write_text("# a student's code")
    limits = Limits(timeout_s=300)
    threading.Thread(target=sandbox.run, args=(box, ["sleep", "300"]), kwargs={"limits": limits}, daemon=True).start()
    print(work, flush=True)
    time.sleep(300)
"""


def start_grader() -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(GRADER)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)
    work = Path(proc.stdout.readline().strip())
    assert work.is_dir(), f"the grader did not start (exit {proc.poll()})"
    give_up = time.monotonic() + 30
    while not owned_by(proc.pid, "run") and time.monotonic() < give_up:
        time.sleep(0.05)
    return proc, work


def owned_by(pid: int, kind: str | None = None) -> list[Path]:
    """The cgroups and temp folders whose names say `pid` owns them."""
    parents = [*cgroups.run_group_parents(), Path(tempfile.gettempdir())]
    found = []
    for parent in dict.fromkeys(parents):
        for path in parent.iterdir():
            who = leftovers.owner(path.name)
            if who and who[0] == pid and (kind is None or path.name.startswith(f"unet-grader-{kind}-")):
                found.append(path)
    return found


@pytest.fixture
def graders():
    started: list[subprocess.Popen] = []

    def start() -> tuple[subprocess.Popen, Path]:
        proc, work = start_grader()
        started.append(proc)
        return proc, work

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        leftovers.clean()


def test_a_killed_graders_leftovers_go_and_a_live_ones_stay(graders, tmp_path):
    assert cgroups.run_group_parents(), f"no cgroup here: {cgroups.support().describe()}"
    killed, killed_work = graders()
    live, live_work = graders()
    killed_left = owned_by(killed.pid)
    assert killed_work in killed_left and any(p.name.startswith("unet-grader-run-") for p in killed_left)
    assert len([p for p in killed_left if p.name.startswith("unet-grader-run-")]) == len(cgroups.run_group_parents())
    live_left = owned_by(live.pid)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert all(p.exists() for p in killed_left)  # SIGKILL leaves them, with the student's file

    empty = tmp_path / "nothing-to-grade"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(empty), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 3 and "no submissions found" in done.stderr
    assert [p for p in killed_left if p.exists()] == []
    assert live.poll() is None and all(p.exists() for p in live_left)
    assert (live_work / "2021001" / "box" / "submission" / "unet.py").is_file()


def test_sigterm_removes_the_graders_own_leftovers(graders):
    proc, work = graders()
    left = owned_by(proc.pid)
    assert work in left and any(p.name.startswith("unet-grader-sandbox-") for p in left)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert [p for p in left if p.exists()] == []


def test_names_without_an_owner_or_with_a_reused_pid(tmp_path):
    me = os.getpid()
    start = int(leftovers.tag().split(".")[1])
    for name in ("unet-grader-old-style", f"unet-grader-work-{me}.{start}-x", f"unet-grader-work-{me}.{start + 1}-x",
                 "unrelated-99999999.1-x"):
        (tmp_path / name).mkdir()
    removed = leftovers.clean(cgroup_parents=[], temp=tmp_path)
    assert removed == [tmp_path / f"unet-grader-work-{me}.{start + 1}-x"]  # the same pid, started at another time
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["unet-grader-old-style", f"unet-grader-work-{me}.{start}-x", "unrelated-99999999.1-x"])


def test_grade_and_check_clean_up_and_handle_sigterm(monkeypatch, tmp_path):
    """The real commands start with the clean-up and make SIGTERM remove this grader's own leftovers."""
    from grader import cli

    cleaned = []
    monkeypatch.setattr(leftovers, "clean", lambda **kw: cleaned.append(kw) or [])
    before = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.main(["grade", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
        assert cleaned == [{}] and signal.getsignal(signal.SIGTERM) is leftovers._on_sigterm
        signal.signal(signal.SIGTERM, before)
        assert cli.main(["check", str(tmp_path / "missing")]) == 2
        assert cleaned == [{}, {}] and signal.getsignal(signal.SIGTERM) is leftovers._on_sigterm
    finally:
        signal.signal(signal.SIGTERM, before)
