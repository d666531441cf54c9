"""Late work: the rubric's penalty from the deadline and each submission's time, as a TA relies on it."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grader import late
from grader import rubric as rubric_module
from grader.cli import main as cli_main
from grader.intake import SubmissionSource
from grader.report import render_all
from grader.report.publish import publish
from grader.rubric import Rubric, RubricError, load
from tests.conftest import build_submission, copy_results, pack

CST = timezone(timedelta(hours=8))
DEADLINE = datetime(2024, 4, 20, 23, 59, tzinfo=CST)
# The built-in rubric's policy: 10 % of the max score per day, at most 50 %, 15 minutes' grace.
POLICY = late.Policy(per_day=10, unit="percent", cap=50, grace_minutes=15)


def _penalty(submitted: datetime, policy: late.Policy = POLICY, max_score: float = 100) -> tuple[int, float]:
    days = late.days_late(DEADLINE, submitted, policy.grace_minutes)
    return days, late.penalty(policy, days, max_score)


@pytest.mark.parametrize(
    ("after", "days", "points"),
    [
        (timedelta(minutes=-5), 0, 0),  # on time
        (timedelta(0), 0, 0),  # at the deadline exactly
        (timedelta(minutes=10), 0, 0),  # within the grace period
        (timedelta(minutes=16), 1, 10),  # just past the grace: a whole day
        (timedelta(hours=1), 1, 10),
        (timedelta(days=2, hours=12), 3, 30),  # 2.5 days rounds up
        (timedelta(days=9), 9, 50),  # capped at 50 %
    ],
)
def test_days_late_and_penalty(after, days, points):
    assert _penalty(DEADLINE + after) == (days, points)


def test_points_policy_and_the_cap_never_exceeds_the_max():
    points = late.Policy(per_day=3, unit="points", cap=None)
    assert _penalty(DEADLINE + timedelta(days=2, hours=1), points, max_score=20) == (3, 9)
    assert _penalty(DEADLINE + timedelta(days=30), points, max_score=20) == (30, 20)


def test_the_built_in_rubric_has_the_policy_and_it_travels_as_plain_data():
    assert load().late == POLICY
    assert Rubric(**asdict(load())).late == POLICY  # as a Dask worker rebuilds the settings


@pytest.mark.parametrize(
    ("table", "word"),
    [("per_day = -1", "per_day"), ('per_day = 10\nunit = "marks"', "unit"), ("per_day = 1\ncapp = 5", "capp")],
)
def test_a_bad_late_table_is_a_rubric_error(tmp_path, table, word):
    rubric = tmp_path / "r.toml"
    rubric.write_text(f'[points]\n"answers/q1" = 6\n\n[late]\n{table}\n', encoding="utf-8")
    with pytest.raises(RubricError, match=word):
        load(rubric)


def test_times_in_iso_excel_and_naive_forms():
    assert late.parse_time("2024-04-20T23:59+08:00") == DEADLINE
    assert late.parse_time("2024-04-20T15:59:00Z") == DEADLINE
    naive = late.parse_time("2024/4/20 23:59")
    assert naive.utcoffset() == datetime(2024, 4, 20, 23, 59).astimezone().utcoffset()  # the local zone
    assert naive.replace(tzinfo=None) == datetime(2024, 4, 20, 23, 59)
    with pytest.raises(ValueError, match="ISO 8601"):
        late.parse_time("next friday")


def test_times_csv_in_gbk_with_a_chinese_header(tmp_path):
    path = tmp_path / "times.csv"
    path.write_bytes("学号,提交时间\n2021001,2024-04-21 01:00:00+08:00\n2021002,2024/4/20 22:00\n".encode("gbk"))
    times = late.read_times(path)
    assert times["2021001"] == datetime(2024, 4, 21, 1, tzinfo=CST)
    assert times["2021002"].replace(tzinfo=None) == datetime(2024, 4, 20, 22)


def test_a_bad_time_in_the_csv_names_its_line(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("id,time\n2021001,2024-04-21T01:00+08:00\n2021002,yesterday\n", encoding="utf-8")
    with pytest.raises(late.LateError, match="line 3"):
        late.read_times(path)


def _source(folder: Path, name: str, mtime: datetime) -> SubmissionSource:
    path = folder / name
    path.write_bytes(b"archive")
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return SubmissionSource(name.split(".")[0], path, "archive", "ab" * 32)


def test_times_csv_overrides_the_file_time_and_a_missing_id_falls_back(tmp_path):
    file_time = DEADLINE + timedelta(days=3)
    listed = _source(tmp_path, "2021001_张伟_week-06.tar.gz", file_time)
    unlisted = _source(tmp_path, "2021009_chen.tar.gz", file_time)
    times = {"2021001": DEADLINE - timedelta(hours=2)}  # a student id: found in the archive's name
    stamp = late.submission_time(listed, times, "times.csv")
    assert (stamp.at, stamp.source, stamp.fallback) == (DEADLINE - timedelta(hours=2), "times", False)
    stamp = late.submission_time(unlisted, times, "times.csv")
    assert (stamp.at, stamp.source, stamp.fallback) == (file_time, "mtime", True)
    assert stamp.source_file == "2021009_chen.tar.gz"


def test_the_penalty_applies_to_the_total_and_shows_on_the_page_and_in_the_csv(tmp_path):
    out = copy_results(tmp_path / "out", "2021001_张伟", "2021002_li", "2021004_zhao")
    archives = tmp_path / "archives"
    archives.mkdir()
    sources = [
        _source(archives, "2021001_张伟.tar.gz", DEADLINE + timedelta(days=2, hours=12)),  # 3 days: -30
        _source(archives, "2021002_li.zip", DEADLINE - timedelta(hours=1)),
        _source(archives, "2021004_zhao.tar.gz", DEADLINE + timedelta(days=1)),  # rejected: nothing to take off
    ]
    times = tmp_path / "times.csv"
    times.write_text("submission,time\n2021002_li,2024-04-21T00:30+08:00\n", encoding="utf-8")  # 31 min late
    missing = late.apply(out, sources, late.Deadline(DEADLINE, POLICY, times))
    assert missing == ["2021001_张伟", "2021004_zhao"]
    stored = json.loads((out / "2021001_张伟" / "result.json").read_text(encoding="utf-8"))
    assert stored["score"] == 80  # the raw score stays
    assert stored["extra"]["late"] | {"policy": None} == {
        "deadline": "2024-04-20T23:59:00+08:00",
        "submitted_at": "2024-04-23T11:59:00+08:00",
        "source": "mtime",
        "source_file": "2021001_张伟.tar.gz",
        "fallback": True,
        "times_file": "times.csv",
        "minutes_late": 3600.0,
        "days_late": 3,
        "penalty": 30.0,
        "policy": None,
    }
    render_all(out, lang="en")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8-sig")))}
    assert [rows["2021001_张伟"][k] for k in ("total", "days_late", "late_penalty", "final", "time_source")] == [
        "80", "3", "30", "50", "mtime"]  # fmt: skip
    assert [rows["2021002_li"][k] for k in ("total", "submitted_at", "days_late", "late_penalty", "final")] == [
        "46", "2024-04-21T00:30:00+08:00", "1", "10", "36"]  # fmt: skip
    assert [rows["2021004_zhao"][k] for k in ("total", "days_late", "late_penalty", "final")] == ["0", "1", "0", "0"]
    assert 'id="late"' not in (out / "2021004_zhao" / "report.html").read_text(encoding="utf-8")
    page = (out / "2021001_张伟" / "report.html").read_text(encoding="utf-8")
    assert "3 day(s) late" in page and "30 points off, final score 50 / 100" in page
    assert "not listed in times.csv" in page and "modification time of 2021001_张伟.tar.gz" in page
    page = (out / "2021002_li" / "report.html").read_text(encoding="utf-8")
    assert "submission time from times.csv" in page and "final score 36 / 100" in page
    publish(out, lang="en", anonymize=True)
    anonymized = out / "_published" / "anonymized"
    published = (anonymized / "results.json").read_text(encoding="utf-8") + (anonymized / "grades.csv").read_text(
        "utf-8-sig")
    assert "2021001" not in published and "张伟" not in published and "zhao" not in published and "3600.0" in published


def test_no_deadline_leaves_the_csv_and_page_as_they_were(tmp_path):
    out = copy_results(tmp_path / "out", "2021001_张伟")
    render_all(out, lang="en")
    header = (out / "grades.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "final" not in header and 'id="late"' not in (out / "2021001_张伟" / "report.html").read_text("utf-8")


# ---- the command line: `grade --deadline`, graded on the written answers only (no sandbox, quick) ----


@pytest.fixture
def inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    folder = build_submission(tmp_path / "build")
    for name, after in (("alice", timedelta(hours=-3)), ("bob", timedelta(hours=30))):
        archive = pack(folder, inbox / f"{name}.tar.gz")
        os.utime(archive, ((DEADLINE + after).timestamp(),) * 2)
    return inbox


def _grade(inbox: Path, out: Path, *extra: str) -> int:
    return cli_main(["grade", str(inbox), "--out", str(out), "--checks", "answers*", *extra])


def _late(out: Path, sid: str) -> dict:
    return json.loads((out / sid / "result.json").read_text(encoding="utf-8"))["extra"]["late"]


def test_a_new_deadline_or_times_file_applies_without_regrading(inbox, tmp_path, capsys):
    out = tmp_path / "out"
    assert _grade(inbox, out, "--deadline", "2024-04-20T23:59+08:00") == 0
    assert (_late(out, "alice")["days_late"], _late(out, "bob")["days_late"]) == (0, 2)
    assert _late(out, "bob")["penalty"] == 4  # 2 days x 10 % of the 20 points the written answers carry
    capsys.readouterr()

    assert _grade(inbox, out, "--deadline", "2024-04-22T23:59+08:00") == 0  # extended by two days
    assert "Grading 0 of 2" in capsys.readouterr().out
    assert _late(out, "bob")["days_late"] == 0

    times = tmp_path / "times.csv"
    times.write_text("alice,2024-04-23T10:00+08:00\n", encoding="utf-8")  # 10 h after the new deadline
    assert _grade(inbox, out, "--times", str(times)) == 0  # the folder keeps the deadline
    captured = capsys.readouterr()
    assert "Grading 0 of 2" in captured.out and "bob" in captured.err and "file time used" in captured.err
    assert (_late(out, "alice")["source"], _late(out, "alice")["days_late"]) == ("times", 1)
    assert _late(out, "bob")["fallback"] is True

    assert _grade(inbox, out, "--deadline", "2024-04-23T23:59+08:00") == 0  # a new deadline keeps the times file
    assert (_late(out, "alice")["source"], _late(out, "alice")["days_late"]) == ("times", 0)
    assert "final" in (out / "grades.csv").read_text(encoding="utf-8-sig").splitlines()[0]


@pytest.mark.parametrize("value", ["2024-13-01T00:00", "friday", "2024-04-20T23:59+25:00"])
def test_a_bad_deadline_is_a_usage_error(inbox, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        _grade(inbox, tmp_path / "out", "--deadline", value)
    assert exc.value.code == 2 and "--deadline" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_times_without_a_deadline_or_a_rubric_without_late_is_a_usage_error(inbox, tmp_path, capsys):
    times = tmp_path / "times.csv"
    times.write_text("alice,2024-04-20T23:00+08:00\n", encoding="utf-8")
    assert _grade(inbox, tmp_path / "out", "--times", str(times)) == 2
    assert "--times needs --deadline" in capsys.readouterr().err
    rubric = tmp_path / "r.toml"
    points = rubric_module.DEFAULT_RUBRIC.read_text(encoding="utf-8").split("[points]", 1)[1]
    rubric.write_text("[points]" + points, encoding="utf-8")
    assert _grade(inbox, tmp_path / "out", "--rubric", str(rubric), "--deadline", "2024-04-20T23:59+08:00") == 2
    assert "no [late] table" in capsys.readouterr().err
