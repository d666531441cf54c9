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
    assert list(rows[0]) == ["id", "source", "status", *groups, "total", "max_score"]
    assert [r["id"] for r in rows] == [PASSING, FAILING, TIMEOUT, REJECTED]
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


def test_anonymize_replaces_ids_in_the_class_files(tmp_path):
    out = copy_results(tmp_path / "reports", FAILING, TIMEOUT, REJECTED)
    render_all(out, anonymize=True, salt="autumn-2026")
    names = {sid: pseudonym(sid, "autumn-2026") for sid in (FAILING, TIMEOUT, REJECTED)}
    assert all(n.startswith("S-") and len(n) == 10 for n in names.values())
    for published in ("index.html", "grades.csv", "results.json"):
        text = (out / published).read_text(encoding="utf-8-sig")
        for fragment in IDENTIFYING:
            assert fragment not in text, (published, fragment)
        for name in names.values():
            assert name in text, (published, name)
    assert "report.html" not in (out / "index.html").read_text(encoding="utf-8")  # folders are named by id
    assert [r["id"] for r in read_csv(out / "grades.csv")] == list(names.values())
    # the student's own page tells them their pseudonym
    assert names[FAILING] in (out / FAILING / "report.html").read_text(encoding="utf-8")
    # stable for a salt, different for another
    assert pseudonym(FAILING, "autumn-2026") == names[FAILING] != pseudonym(FAILING, "spring-2027")


def test_anonymize_leaves_a_file_name_every_student_shares(tmp_path):
    """Archives downloaded from an LMS, one folder per student, are all called week-06.tar.gz."""
    out = tmp_path / "reports"
    for sid in ("2021007-week-06", "2021008-week-06"):
        missing = text("找不到 week-06/unet/unet_model.py", "week-06/unet/unet_model.py is missing")
        check = CheckResult.make("unet_add/structure", "skipped", 4, missing)
        SubmissionResult(SubmissionInfo(sid, "week-06.tar.gz"), Environment("0.1.0"), checks=[check]).write(
            out / sid / "result.json")
    render_all(out, anonymize=True)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "2021007" not in html and "2021008" not in html
    assert "week-06/unet/unet_model.py is missing" in html


def test_handout_writes_one_self_contained_folder_per_student(tmp_path):
    out = copy_results(tmp_path / "reports", PASSING, REJECTED)
    handout = tmp_path / "handout"
    render_all(out, handout=handout)
    assert sorted(p.name for p in handout.iterdir()) == [PASSING, REJECTED]
    page = handout / PASSING / "report.html"
    assert page.read_text(encoding="utf-8") == (out / PASSING / "report.html").read_text(encoding="utf-8")
    # the images are inside the page; the linked notebook is copied beside it
    assert sorted(p.relative_to(handout / PASSING).as_posix() for p in (handout / PASSING).rglob("*")
                  if p.is_file()) == ["executed.ipynb", "report.html"]
    assert not (handout / PASSING / "result.json").exists()


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
