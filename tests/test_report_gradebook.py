"""grades.csv, results.json, anonymized publishing, handouts and Gradescope's results.json."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from grader.messages import text
from grader.report import main, render_all
from grader.report.anonymize import pseudonym
from grader.report.publish import publish
from grader.results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from tests.conftest import copy_results

PASSING, FAILING, TIMEOUT, REJECTED = "2021001_张伟", "2021002_li", "2021003_wang", "2021004_zhao"
# Everything that names a student in the fixtures, down to the parts of the ids.
IDENTIFYING = ["2021001", "2021002", "2021003", "2021004", "张伟", "_li", "wang", "zhao", ".tar.gz", ".zip"]




def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_grades_csv_has_a_bom_and_totals_equal_the_results(rendered):
    raw = (rendered / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = read_csv(rendered / "grades.csv")
    groups = ["jaccard", "unet_shallow", "up_add", "unet_add", "deconv2d", "training", "notebook", "answers"]
    assert list(rows[0]) == ["id", "student_id", "source", "status", *groups, "total", "max_score"]
    assert [r["id"] for r in rows] == [PASSING, FAILING, TIMEOUT, REJECTED]
    # without a roster, the student id is the leading digits of the archive's name
    assert [r["student_id"] for r in rows] == ["2021001", "2021002", "2021003", "2021004"]
    for row in rows:
        result = SubmissionResult.read(rendered / row["id"] / "result.json")
        assert float(row["total"]) == result.score
        assert row["source"] == result.submission.source and row["status"] == result.status
        groups = result.group_scores()
        assert sum(float(row[g]) for g in groups) == pytest.approx(result.score)
    failing = next(r for r in rows if r["id"] == FAILING)
    assert (failing["deconv2d"], failing["training"], failing["total"]) == ("5", "0", "46")
    rejected = next(r for r in rows if r["id"] == REJECTED)
    assert rejected["status"] == "rejected" and rejected["jaccard"] == "" and rejected["total"] == "0"


def test_results_json_holds_every_result(rendered):
    items = json.loads((rendered / "results.json").read_text(encoding="utf-8"))
    assert [i["submission"]["id"] for i in items] == [PASSING, FAILING, TIMEOUT, REJECTED]
    assert items[1] == json.loads((rendered / FAILING / "result.json").read_text(encoding="utf-8"))


TA_FILES = ("index.html", "grades.csv", "checks.csv", "results.json")


def test_anonymize_publishes_apart_and_keeps_a_key(tmp_path, capsys):
    out = copy_results(tmp_path / "reports", FAILING, TIMEOUT, REJECTED)
    render_all(out)
    before = {f: (out / f).read_bytes() for f in TA_FILES}
    assert main(out_dir=out, anonymize=True, salt="autumn-2026") == 0
    published = out / "_published" / "anonymized"
    names = {sid: pseudonym(sid, "autumn-2026") for sid in (FAILING, TIMEOUT, REJECTED)}
    assert all(n.startswith("S-") and len(n) == 10 for n in names.values())
    for name in TA_FILES:
        text = (published / name).read_text(encoding="utf-8-sig")
        for fragment in IDENTIFYING:
            assert fragment not in text, (name, fragment)
        for pseudo in names.values():
            assert pseudo in text, (name, pseudo)
    assert "report.html" not in (published / "index.html").read_text(encoding="utf-8")  # folders are ids
    rows = read_csv(published / "grades.csv")
    assert [r["id"] for r in rows] == list(names.values()) and {r["student_id"] for r in rows} == {""}
    # the TA's own files are untouched
    assert before == {f: (out / f).read_bytes() for f in TA_FILES}
    # the key, for the instructor, lies outside the published folder
    key = out / "anonymize-key.csv"
    assert [(r["pseudonym"], r["submission_id"], r["student_id"], r["source"]) for r in read_csv(key)] == [
        (names[FAILING], FAILING, "2021002", "2021002_li.zip"),
        (names[TIMEOUT], TIMEOUT, "2021003", "2021003_wang.tar.gz"),
        (names[REJECTED], REJECTED, "2021004", "2021004_zhao.tar.gz")]
    assert str(key) in capsys.readouterr().out
    # stable for a salt, different for another
    assert pseudonym(FAILING, "autumn-2026") == names[FAILING] != pseudonym(FAILING, "spring-2027")


def test_publishing_never_writes_over_the_ta_folder(tmp_path, capsys):
    out = copy_results(tmp_path / "reports", FAILING)
    render_all(out)
    before = {f: (out / f).read_bytes() for f in TA_FILES}
    for bad in ({"handout": True, "handout_dir": out}, {"handout": True, "handout_dir": out / FAILING / "x"},
                {"handout": True, "handout_dir": tmp_path}, {"anonymize": True, "publish_dir": out / FAILING}):
        assert main(out_dir=out, **bad) == 2, bad
        assert "would replace the TA's own files" in capsys.readouterr().err
    assert before == {f: (out / f).read_bytes() for f in TA_FILES}


def test_anonymize_leaves_a_file_name_every_student_shares(tmp_path):
    """Archives downloaded from an LMS, one folder per student, are all called week-06.tar.gz."""
    out = tmp_path / "reports"
    for sid in ("2021007-week-06", "2021008-week-06"):
        missing = text("找不到 week-06/unet/unet_model.py", "week-06/unet/unet_model.py is missing")
        check = CheckResult.make("unet_add/structure", "skipped", 4, missing)
        SubmissionResult(SubmissionInfo(sid, "week-06.tar.gz"), Environment("0.1.0"), checks=[check]).write(
            out / sid / "result.json")
    publish(out, anonymize=True)
    html = (out / "_published" / "anonymized" / "index.html").read_text(encoding="utf-8")
    assert "2021007" not in html and "2021008" not in html
    assert "week-06/unet/unet_model.py is missing" in html
    # the student id comes from the LMS folder's name when the archive's holds none
    key = read_csv(out / "anonymize-key.csv")
    assert [r["student_id"] for r in key] == ["2021007", "2021008"]


def test_handout_writes_one_self_contained_folder_per_student(tmp_path):
    out = copy_results(tmp_path / "reports", PASSING, REJECTED)
    render_all(out)
    publish(out, handout=True)
    handout = out / "_published" / "handout"
    assert sorted(p.name for p in handout.iterdir()) == [PASSING, REJECTED]
    page = handout / PASSING / "report.html"
    assert page.read_text(encoding="utf-8") == (out / PASSING / "report.html").read_text(encoding="utf-8")
    # the images are inside the page; the linked notebook is copied beside it
    assert sorted(p.relative_to(handout / PASSING).as_posix() for p in (handout / PASSING).rglob("*")
                  if p.is_file()) == ["executed.ipynb", "report.html"]
    assert not (handout / PASSING / "result.json").exists()
    # anonymized too, each page tells the student their pseudonym; the TA's page does not change
    ta_page = (out / PASSING / "report.html").read_bytes()
    publish(out, handout=True, handout_dir=tmp_path / "hand", anonymize=True, salt="s")
    assert pseudonym(PASSING, "s") in (tmp_path / "hand" / PASSING / "report.html").read_text(encoding="utf-8")
    assert (out / PASSING / "report.html").read_bytes() == ta_page


def test_checks_csv_has_a_column_per_check_id(rendered):
    rows = read_csv(rendered / "checks.csv")
    assert [r["id"] for r in rows] == [PASSING, FAILING, TIMEOUT, REJECTED]
    for row in rows:
        result = SubmissionResult.read(rendered / row["id"] / "result.json")
        assert {cid: row[cid] for cid in (c.id for c in result.checks)} == {
            c.id: f"{c.score:g}" for c in result.checks}
        assert float(row["total"]) == result.score
    columns = list(rows[0])
    assert columns[:4] == ["id", "student_id", "source", "status"] and columns[-2:] == ["total", "max_score"]
    assert columns.index("jaccard/batch") < columns.index("deconv2d/numpy-only") < columns.index("answers/q1")
    rejected = rows[-1]
    assert rejected["status"] == "rejected" and rejected["jaccard/batch"] == "" and rejected["total"] == "0"


def test_gradescope_results_follow_their_autograder_format(tmp_path):
    out = copy_results(tmp_path / "reports", FAILING)
    target = tmp_path / "gradescope" / "results.json"
    assert main(out_dir=out, lang="en", gradescope=target) == 0
    data = json.loads(target.read_text(encoding="utf-8"))
    result = SubmissionResult.read(out / FAILING / "result.json")
    assert data["score"] == result.score == 46
    assert data["execution_time"] == 130 and data["visibility"] == "visible"
    assert len(data["tests"]) == len(result.checks)
    for test, check in zip(data["tests"], result.checks, strict=True):
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert (test["name"], test["score"], test["max_score"]) == (check.id, check.score, check.max_score)
        assert test["status"] == ("passed" if check.status == "passed" else "failed")
        assert isinstance(test["output"], str) and test["visibility"] == "visible"
    assert sum(t["score"] for t in data["tests"]) == data["score"]
    deconv = next(t for t in data["tests"] if t["name"] == "deconv2d/notebook-example")
    assert "wrong on the notebook's example" in deconv["output"] and "(0, 1, 2)" in deconv["output"]
    assert "Expected:" in deconv["output"] and "Received:" in deconv["output"]
    assert "低于" not in target.read_text(encoding="utf-8")


def test_gradescope_needs_exactly_one_submission(rendered, tmp_path, capsys):
    assert main(out_dir=rendered, gradescope=tmp_path / "results.json") == 2
    assert "exactly one submission" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
