"""The class roster on the dashboard and in grades.csv: every student listed, names beside the submissions,
archives that belong to no one flagged; and none of it published with --anonymize."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from grader.report import render_all
from grader.report.anonymize import REDACTED, Anonymizer, pseudonym
from grader.report.load import Roster, RosterStudent
from grader.report.publish import publish

FIXTURES = Path(__file__).parent / "fixtures" / "results"
PASSING, FAILING, TIMEOUT, REJECTED = "2021001_张伟", "2021002_li", "2021003_wang", "2021004_zhao"
SALT = "autumn-2026"
# 2021003_wang's archive names no roster id, 2021004_zhao's names two; 2021005 陈静 handed in nothing.
ROSTER = {
    "schema_version": 1, "roster": "roster.csv",
    "students": [
        {"student_id": "2021001", "name": "张伟", "status": "submitted", "submissions": [PASSING]},
        {"student_id": "2021005", "name": "陈静", "status": "missing", "submissions": []},
        {"student_id": "2021002", "name": "李力", "status": "submitted", "submissions": [FAILING]},
        {"student_id": "2021004", "name": "赵敏", "status": "missing", "submissions": []},
        {"student_id": "2021044", "name": "赵四", "status": "missing", "submissions": []},
    ],
    "unmatched": [{"submission": TIMEOUT, "source": "2021003_wang.tar.gz"}],
    "ambiguous": [{"submission": REJECTED, "source": "2021004_zhao.tar.gz", "student_ids": ["2021004", "2021044"]}],
}
NAMES = ["张伟", "陈静", "李力", "赵敏", "赵四"]


def results_with_roster(dest: Path, roster: dict | None = ROSTER) -> Path:
    for folder in FIXTURES.iterdir():
        shutil.copytree(folder, dest / folder.name)
    if roster is not None:
        (dest / "roster.json").write_text(json.dumps(roster, ensure_ascii=False), encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = results_with_roster(tmp_path_factory.mktemp("roster") / "reports")
    render_all(out, lang="en")
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def rows(html: str) -> list[str]:
    """The submissions table's rows, as HTML."""
    table = html[html.index('id="submissions"'):html.index("</table>", html.index('id="submissions"'))]
    return re.findall(r"<tr class=\"row-\w+\">.*?</tr>", table, re.S)


def card(html: str, label: str) -> str:
    return re.search(rf'<div class="muted">{label}</div><div class="value">(\d+)</div>', html).group(1)


def test_every_roster_student_is_listed_in_roster_order_then_the_rest(rendered):
    html = (rendered / "index.html").read_text(encoding="utf-8")
    listed = rows(html)
    assert len(listed) == 7  # 4 submissions and 3 students who handed in nothing
    assert [re.search(r'<span class="muted mono">(\d+)</span>', r) for r in listed][5:] == [None, None]
    order = [re.search(r'<span class="muted mono">(\d+)</span>', r).group(1) for r in listed[:5]]
    assert order == ["2021001", "2021005", "2021002", "2021004", "2021044"]
    assert PASSING in listed[0] and '<td>张伟 <span class="muted mono">2021001</span></td>' in listed[0]
    assert FAILING in listed[2] and '<td>李力 <span class="muted mono">2021002</span></td>' in listed[2]
    assert TIMEOUT in listed[5] and REJECTED in listed[6]


def test_a_student_with_no_submission_has_a_missing_row_with_total_0_and_no_link(rendered):
    html = (rendered / "index.html").read_text(encoding="utf-8")
    missing = rows(html)[1]
    assert missing.startswith('<tr class="row-missing">') and "陈静" in missing
    assert '<span class="badge s-missing">missing</span>' in missing
    assert "<a " not in missing and "report.html" not in missing
    assert re.search(r'data-v="0.0"><strong>0</strong> <span class="muted">/ 100</span>', missing)
    assert card(html, "Missing") == "3"

    grades = read_csv(rendered / "grades.csv")
    assert list(grades[0])[:5] == ["id", "student_id", "name", "source", "status"]
    assert [(g["id"], g["student_id"], g["name"], g["status"]) for g in grades] == [
        (PASSING, "2021001", "张伟", "graded"), ("", "2021005", "陈静", "missing"),
        (FAILING, "2021002", "李力", "graded"), ("", "2021004", "赵敏", "missing"),
        ("", "2021044", "赵四", "missing"), (TIMEOUT, "", "", "graded"), (REJECTED, "", "", "rejected")]
    chen = grades[1]
    assert (chen["total"], chen["max_score"], chen["source"], chen["jaccard"]) == ("0", "100", "", "")


def test_archives_that_belong_to_no_one_are_flagged_and_counted(rendered):
    html = (rendered / "index.html").read_text(encoding="utf-8")
    unmatched, ambiguous = rows(html)[5:]
    assert '<span class="badge flag flag-unmatched">not on the roster</span>' in unmatched
    assert ('<span class="badge flag flag-ambiguous">several ids</span> <span class="muted mono">2021004, 2021044'
            in ambiguous)
    assert sum("flag-" in r for r in rows(html)) == 2
    assert card(html, "Not on the roster") == "1" and card(html, "Several ids") == "1"


def test_both_languages_name_the_column_and_the_flag(tmp_path):
    out = results_with_roster(tmp_path)
    render_all(out)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert '<th data-col="student">学生 / student</th>' in html
    assert "不在名单中 / not on the roster" in html and "未提交 / missing" in html


def test_anonymize_removes_the_roster_ids_and_names_too(tmp_path):
    out = results_with_roster(tmp_path)
    publish(out, anonymize=True, salt=SALT)
    out = out / "_published" / "anonymized"
    for published in ("index.html", "grades.csv", "results.json"):
        text = (out / published).read_text(encoding="utf-8-sig")
        for fragment in ["2021001", "2021002", "2021003", "2021004", "2021005", "2021044", *NAMES]:
            assert fragment not in text, (published, fragment)
    grades = read_csv(out / "grades.csv")
    assert all(g["student_id"] == "" and g["name"] == "" for g in grades)
    chen = grades[1]
    assert (chen["id"], chen["status"], chen["total"]) == (pseudonym("2021005", SALT), "missing", "0")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert len(rows(html)) == 7 and "not on the roster" in html and "several ids" in html


def test_a_name_two_students_share_is_still_removed():
    roster = Roster([RosterStudent("2021007", "王芳", []), RosterStudent("2021008", "王芳", [])])
    names = Anonymizer([], enabled=True, salt=SALT, roster=roster)
    assert names.scrub("王芳 (2021008) copied") == f"{REDACTED} ({pseudonym('2021008', SALT)}) copied"


def test_without_roster_json_there_is_no_student_column(tmp_path):
    out = results_with_roster(tmp_path, roster=None)
    render_all(out, lang="en")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'data-col="student"' not in html and "row-missing" not in html and "badge flag" not in html
    assert "Missing" not in html and "Not on the roster" not in html
    assert list(read_csv(out / "grades.csv")[0])[:4] == ["id", "student_id", "source", "status"]


def test_an_unreadable_roster_json_is_listed_and_the_rest_rendered(tmp_path):
    out = results_with_roster(tmp_path, roster={"students": "not a list"})
    render_all(out, lang="en")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "roster.json" in html[html.index('id="unreadable"'):]
    assert len(rows(html)) == 4 and 'data-col="student"' not in html
