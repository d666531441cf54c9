"""The roster: reading the CSVs TAs have, matching archives to students by id, and DIR/roster.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.cli import main as cli_main
from grader.intake import SubmissionSource
from grader.roster import RosterError, Student, derived_id, match, read_roster
from tests.conftest import build_submission, pack


def _csv(tmp_path: Path, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "roster.csv"
    path.write_bytes(content.encode(encoding))
    return path


def _source(name: str, sid: str | None = None) -> SubmissionSource:
    return SubmissionSource(id=sid or name.split(".")[0], path=Path("/in") / name, kind="archive", sha256="0")


@pytest.mark.parametrize("content, encoding", [
    ("学号,姓名\n2024001,张三\n2024002,李四\n", "utf-8-sig"),
    ("学号,姓名\n2024001,张三\n2024002,李四\n", "gbk"),
    ("name,student_id,class\n张三,2024001,A\n\n李四,2024002,B\n", "utf-8"),
    ("2024001;张三\n2024002;李四\n", "utf-8"),
    ("No.,Full name\n2024001,张三\n2024002,李四\n", "utf-8"),
])
def test_rosters_as_tas_save_them(tmp_path, content, encoding):
    students = read_roster(_csv(tmp_path, content, encoding))
    assert [(s.student_id, s.name) for s in students] == [("2024001", "张三"), ("2024002", "李四")]


@pytest.mark.parametrize("content, word", [
    ("", "empty"),
    ("学号,姓名\n", "no students"),
    ("学号,姓名\n2024001,张三\n2024001,李四\n", "twice"),
    ("学号,姓名\n,张三\n", "line 2"),
])
def test_a_bad_roster_says_why(tmp_path, content, word):
    with pytest.raises(RosterError, match=word):
        read_roster(_csv(tmp_path, content))


def test_archives_match_by_the_id_in_their_name():
    students = [Student("2024001", "张三"), Student("2024002", "李四"), Student("2024003", "王五"),
                Student("2024004", "赵六"), Student("PB24005", "孙七")]
    sources = [_source("2024001_张三.tar.gz"), _source("2024002张三李四.zip"),
               _source("week-06.tar.gz", sid="2024003-week-06"),  # as found in an LMS folder 2024003/
               _source("pb24005-final.zip"), _source("2024003_resubmitted.tar.gz"),
               _source("20240015.tar.gz"), _source("2024001_2024002.zip")]
    found = match(students, sources)
    assert {s.student_id: s.submissions for s in found.students} == {
        "2024001": ["2024001_张三"], "2024002": ["2024002张三李四"],
        "2024003": ["2024003-week-06", "2024003_resubmitted"], "2024004": [], "PB24005": ["pb24005-final"]}
    assert [s.status for s in found.students] == ["submitted"] * 3 + ["missing", "submitted"]
    assert [s.path.name for s in found.unmatched] == ["20240015.tar.gz"]
    assert [(s.path.name, ids) for s, ids in found.ambiguous] == [("2024001_2024002.zip",
                                                                   ["2024001", "2024002"])]


def test_the_longest_id_wins():
    found = match([Student("2024012", "甲"), Student("2024012-1", "乙")], [_source("2024012-1_乙.zip")])
    assert [s.submissions for s in found.students] == [[], ["2024012-1_乙"]]


@pytest.mark.slow
def test_grade_writes_roster_json_and_keeps_it(tmp_path, capsys):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    folder = build_submission(tmp_path / "build")
    pack(folder, inbox / "2024001_张三.tar.gz")
    pack(folder, inbox / "final_version.tar.gz")
    roster = _csv(tmp_path, "学号,姓名\n2024001,张三\n2024002,李四\n", "gbk")
    # answers only: no sandbox, the point is the batch's bookkeeping
    args = ["grade", str(inbox), "--out", str(out), "--checks", "answers*"]
    assert cli_main([*args, "--roster", str(roster)]) == 0
    written = json.loads((out / "roster.json").read_text(encoding="utf-8"))
    assert written["schema_version"] == 1
    assert written["students"] == [
        {"student_id": "2024001", "name": "张三", "status": "submitted", "submissions": ["2024001_张三"]},
        {"student_id": "2024002", "name": "李四", "status": "missing", "submissions": []}]
    assert written["unmatched"] == [{"submission": "final_version", "source": "final_version.tar.gz"}]
    assert all((out / sid / "result.json").is_file() for s in written["students"] for sid in s["submissions"])
    printed = capsys.readouterr().out
    assert "1 missing" in printed and "2024002 李四" in printed and "final_version.tar.gz" in printed

    pack(folder, inbox / "2024002.tar.gz")  # a late hand-in; the next run is given no --roster
    assert cli_main(args) == 0
    kept = json.loads((out / "roster.json").read_text(encoding="utf-8"))
    assert [s["submissions"] for s in kept["students"]] == [["2024001_张三"], ["2024002"]]


def test_an_unreadable_roster_is_a_usage_error(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pack(build_submission(tmp_path / "build"), inbox / "a.tar.gz")
    bad = _csv(tmp_path, "学号,姓名\n2024001,张三\n2024001,李四\n")
    assert cli_main(["grade", str(inbox), "--out", str(tmp_path / "out"), "--roster", str(bad)]) == 2
    assert "twice" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("source, sid, expected", [
    ("2024001_张三.tar.gz", "2024001_张三", "2024001"),
    ("2024001张三.zip", "2024001张三", "2024001"),
    ("week-06.tar.gz", "2024002-week-06", "2024002"),  # an LMS folder per student
    ("zhang_san.tar.gz", "zhang_san", "zhang_san"),
    ("１２３.zip", "１２３", "１２３"),  # full-width digits are not an id's digits
])
def test_a_student_id_without_a_roster_comes_from_the_name(source, sid, expected):
    assert derived_id(source, sid) == expected
