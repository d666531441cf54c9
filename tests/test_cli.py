"""Exit codes a script can trust, `--version`, and what `--help` says about them.

grade: 0 the batch was graded (whatever the students scored), 2 usage error, 3 nothing could be graded,
130 interrupted. report: 2 for a folder that is missing or holds no result.
"""

from __future__ import annotations

import sys

import pytest

from grader import batch, pipeline
from grader.cli import main as cli_main

from .conftest import REPO, build_submission, copy_results

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _grade(inbox, out, *extra: str) -> int:
    return cli_main(["grade", str(inbox), "--out", str(out), "--checks", "answers*", "--seed", "5", *extra])


def _corrupt(folder, name: str) -> None:
    (folder / name).write_bytes(b"\x1f\x8b\x08\x00garbage" * 50)


def test_version_is_the_packaged_one(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--version"])
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"unet-grader {version}"


def test_grade_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli_main(["grade", "--help"])
    out = capsys.readouterr().out
    for line in ("0    the batch was graded", "2    usage error", "3    nothing could be graded", "130  interrupted"):
        assert line in out


def test_check_help_documents_its_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli_main(["check", "--help"])
    out = capsys.readouterr().out
    assert "0    every automatic check that ran passed" in out and "1    some automatic check failed" in out


def test_a_batch_with_one_graded_submission_exits_0(tmp_path):
    inbox = tmp_path / "inbox"
    build_submission(inbox / "2024001")
    _corrupt(inbox, "2024002.tar.gz")
    assert _grade(inbox, tmp_path / "out") == 0
    assert (tmp_path / "out" / "2024002" / "result.json").is_file()


def test_every_archive_rejected_exits_3(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _corrupt(inbox, "2024001.tar.gz")
    _corrupt(inbox, "2024002.zip")
    out = tmp_path / "out"
    assert _grade(inbox, out) == batch.NOTHING_GRADED == 3
    assert "none of the 2 submission(s) could be graded" in capsys.readouterr().err
    assert sorted(p.parent.name for p in out.glob("*/result.json")) == ["2024001", "2024002"]
    assert (out / "index.html").is_file()  # the rejections are still reported


def test_every_grading_failing_in_the_grader_exits_3(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    build_submission(inbox / "2024001")

    def broken(source, settings):
        raise RuntimeError("a grader bug")

    monkeypatch.setattr(pipeline, "grade", broken)
    assert _grade(inbox, tmp_path / "out") == 3


def test_no_submission_found_exits_3(tmp_path, capsys):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "notes.txt").write_text("not a submission")
    assert _grade(tmp_path / "inbox", tmp_path / "out") == 3
    assert "no submissions found" in capsys.readouterr().err


def test_a_missing_path_exits_2(tmp_path, capsys):
    assert _grade(tmp_path / "nowhere", tmp_path / "out") == 2
    assert "nowhere: no such file or folder" in capsys.readouterr().err


def test_an_interrupt_anywhere_exits_130(tmp_path, monkeypatch, capsys):
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "main", interrupted)
    assert _grade(tmp_path, tmp_path / "out") == 130
    assert "interrupted" in capsys.readouterr().err


def test_report_on_an_empty_or_missing_folder_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli_main(["report", str(tmp_path / "empty")]) == 2
    assert "no results in" in capsys.readouterr().err
    assert not (tmp_path / "empty" / "index.html").exists()
    assert cli_main(["report", str(tmp_path / "missing")]) == 2
    assert "no results folder" in capsys.readouterr().err
    (tmp_path / "broken" / "x").mkdir(parents=True)
    (tmp_path / "broken" / "x" / "result.json").write_text("{not json")
    assert cli_main(["report", str(tmp_path / "broken")]) == 2
    assert "(1 unreadable)" in capsys.readouterr().err


def test_report_on_results_exits_0(tmp_path):
    out = copy_results(tmp_path / "out", "2021002_li")
    assert cli_main(["report", str(out), "--lang", "en"]) == 0
    assert (out / "index.html").is_file()
