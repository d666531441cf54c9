"""Manual grades: the template for TAs, storing them apart from result.json (idempotently), rejecting bad CSVs."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from grader.report import handgrades, main
from grader.report.load import load_batch
from grader.report.manual import ManualError, merge_manual
from grader.results import SubmissionResult

FIXTURES = Path(__file__).parent / "fixtures" / "results"
PASSING, FAILING, TIMEOUT, REJECTED = "2021001_张伟", "2021002_li", "2021003_wang", "2021004_zhao"
HEADER = ["submission_id", "check_id", "max_score", "score", "comment", "answer"]


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """Three of the fixture results: one with training plots (slow to draw) is enough here."""
    out = tmp_path / "reports"
    for sid in (FAILING, TIMEOUT, REJECTED):
        shutil.copytree(FIXTURES / sid, out / sid)
    return out


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def result(results_dir: Path, sid: str) -> SubmissionResult:
    """The result as the reports see it: the automatic one with the stored hand grades merged."""
    return next(e.result for e in load_batch(results_dir).entries if e.id == sid)


def check(results_dir: Path, sid: str, check_id: str):
    return next(c for c in result(results_dir, sid).checks if c.id == check_id)


def stored(results_dir: Path) -> dict:
    return json.loads((results_dir / "_manual.json").read_text(encoding="utf-8"))


def test_template_lists_every_answer_to_grade(results_dir, capsys):
    assert main(out_dir=results_dir, manual_template=results_dir / "manual.csv") == 0
    raw = (results_dir / "manual.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == HEADER
    assert [(r["submission_id"], r["check_id"]) for r in rows] == [
        (sid, f"answers/{q}") for sid in (FAILING, TIMEOUT) for q in ("q1", "q4", "q5")]
    first = rows[0]
    assert first["max_score"] == "6" and first["score"] == "" and first["comment"] == ""
    assert first["answer"] == "B*H*W*C. <script>alert('xss')</script> and <b>bold</b> & \"quotes\""
    assert "\n- 第一行\n" in rows[1]["answer"]  # multi-line answers stay in one cell
    assert "6 answer(s) to grade" in capsys.readouterr().out
    # never overwrites a TA's work
    assert main(out_dir=results_dir, manual_template=results_dir / "manual.csv") == 2
    assert "already exists" in capsys.readouterr().err
    assert (results_dir / "manual.csv").read_bytes() == raw


def test_merge_grades_answers_and_overrides_and_persists(results_dir):
    manual = write_csv(results_dir.parent / "manual.csv", [
        [FAILING, "answers/q1", "6", "4.5", "通道数说对了 / channels right", ""],
        [FAILING, "answers/q4", "7", "7", "", ""],
        [FAILING, "answers/q5", "7", "", "", ""],  # not graded yet: left alone
        [TIMEOUT, "training/unet", "6", "6", "re-ran on the GPU box: Dice 0.96", ""],
    ])
    before = result(results_dir, FAILING).score
    automatic = {sid: (results_dir / sid / "result.json").read_bytes() for sid in (FAILING, TIMEOUT)}
    assert main(out_dir=results_dir, manual=manual, grader="alice") == 0
    # result.json stays the automatic result; the grades are kept apart, each with who, when and why
    assert automatic == {sid: (results_dir / sid / "result.json").read_bytes() for sid in automatic}
    grades = stored(results_dir)["grades"]
    assert [(g["submission_id"], g["check_id"], g["score"], g["grader"], g["source"]) for g in grades] == [
        (FAILING, "answers/q1", 4.5, "alice", "manual.csv row 2"),
        (FAILING, "answers/q4", 7, "alice", "manual.csv row 3"),
        (TIMEOUT, "training/unet", 6, "alice", "manual.csv row 5")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", g["at"]) for g in grades)

    q1 = check(results_dir, FAILING, "answers/q1")
    assert (q1.score, q1.status) == (4.5, "failed")  # partial marks
    override = q1.details["override"]
    assert {k: override[k] for k in ("by", "score", "previous_score", "reason", "grader", "source")} == {
        "by": "manual", "score": 4.5, "previous_score": 0.0, "reason": "通道数说对了 / channels right",
        "grader": "alice", "source": "manual.csv row 2"}
    assert override["at"] == grades[0]["at"]
    assert q1.details["automatic"]["status"] == "skipped"
    assert q1.details["answer"].startswith("B*H*W*C.")  # the answer stays for the next template
    q4 = check(results_dir, FAILING, "answers/q4")
    assert (q4.score, q4.status) == (7, "passed")
    assert check(results_dir, FAILING, "answers/q5").status == "skipped"
    assert result(results_dir, FAILING).score == before + 11.5

    unet = check(results_dir, TIMEOUT, "training/unet")
    assert (unet.score, unet.status) == (6, "passed")
    assert unet.details["override"]["reason"] == "re-ran on the GPU box: Dice 0.96"
    assert unet.details["automatic"]["status"] == "timeout"
    assert unet.messages["en"] == "Score set by a TA (automatic score 0): re-ran on the GPU box: Dice 0.96"

    # everything was re-rendered from the merged results
    page = (results_dir / FAILING / "report.html").read_text(encoding="utf-8")
    assert "TA grade: 4.5 / 6" in page and "通道数说对了 / channels right" in page
    page = (results_dir / TIMEOUT / "report.html").read_text(encoding="utf-8")
    card = page[page.index('id="check-training-unet"'):page.index('id="check-training-unet_shallow"')]
    assert "TA grade: 6 / 6" in card and "re-ran on the GPU box: Dice 0.96" in card
    assert "The automatic check said: 训练超过了 300 秒的时间限制 / training ran past its 300 s" in card
    assert card.count("re-ran on the GPU box") == 1  # the comment once, not again as the message
    grades = (results_dir / "grades.csv").read_text(encoding="utf-8-sig")
    assert f"{FAILING},2021002,2021002_li.zip,graded,7,12,8,8,5,0,6,11.5,57.5,100" in grades
    assert f"{TIMEOUT},2021003,2021003_wang.tar.gz,graded,10,12,8,8,12,6,12,0,68,100" in grades


def test_merging_twice_changes_nothing(results_dir):
    manual = write_csv(results_dir.parent / "manual.csv", [
        [FAILING, "answers/q1", "6", "5", "good", ""],
        [TIMEOUT, "deconv2d/numpy-only", "2", "1", "imports torch inside deconv2d", ""],
    ])
    assert main(out_dir=results_dir, manual=manual) == 0
    paths = [results_dir / sid / f for sid in (FAILING, TIMEOUT) for f in ("result.json", "report.html")]
    paths += [results_dir / f for f in ("grades.csv", "checks.csv", "index.html", "_manual.json")]
    first = [p.read_bytes() for p in paths]
    assert main(out_dir=results_dir, manual=manual, grader="someone else") == 0
    assert [p.read_bytes() for p in paths] == first  # who graded and when stay the first merge's


def test_a_later_grade_revises_from_the_automatic_result(results_dir):
    for name, score, comment, ta in (("a.csv", "7", "", "alice"), ("b.csv", "3", "x", "bob")):
        grades = write_csv(results_dir / name, [[TIMEOUT, "answers/q4", "", score, comment]])
        assert merge_manual(results_dir, grades, grader=ta) == (1, 1)
    q4 = check(results_dir, TIMEOUT, "answers/q4")
    assert q4.score == 3 and q4.details["override"]["previous_score"] == 0.0
    assert q4.details["override"]["grader"] == "bob"
    # the grade it replaced is kept, with who gave it
    [old] = stored(results_dir)["history"]
    assert (old["score"], old["grader"], old["source"]) == (7, "alice", "a.csv row 2")
    assert q4.details["automatic"]["messages"]["en"] == "awaiting a TA's grade"
    assert "automatic" not in q4.details["automatic"]
    # and the next template starts from what was merged
    main(out_dir=results_dir, manual_template=results_dir / "again.csv")
    rows = list(csv.DictReader(io.StringIO((results_dir / "again.csv").read_text(encoding="utf-8-sig"))))
    row = next(r for r in rows if (r["submission_id"], r["check_id"]) == (TIMEOUT, "answers/q4"))
    assert (row["score"], row["comment"]) == ("3", "x")


def test_bad_rows_are_all_named_and_nothing_is_merged(results_dir, capsys):
    manual = write_csv(results_dir / "manual.csv", [
        [FAILING, "answers/q1", "6", "5", "fine", ""],
        ["2099999_nobody", "answers/q1", "6", "3", "", ""],
        [FAILING, "answers/q9", "6", "3", "", ""],
        [FAILING, "answers/q4", "7", "8", "", ""],
        [FAILING, "answers/q5", "7", "-1", "", ""],
        [TIMEOUT, "answers/q1", "6", "five", "", ""],
        [TIMEOUT, "jaccard/batch", "1.5", "0", "", ""],
        [FAILING, "answers/q1", "6", "4", "graded twice", ""],
        [REJECTED, "answers/q1", "6", "3", "", ""],
    ])
    before = {sid: (results_dir / sid / "result.json").read_bytes() for sid in (FAILING, TIMEOUT, REJECTED)}
    with pytest.raises(ManualError) as caught:
        merge_manual(results_dir, manual)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "row 3 (2099999_nobody, answers/q1)", f"row 4 ({FAILING}, answers/q9)",
        f"row 5 ({FAILING}, answers/q4)", f"row 6 ({FAILING}, answers/q5)", f"row 7 ({TIMEOUT}, answers/q1)",
        f"row 8 ({TIMEOUT}, jaccard/batch)", f"row 9 ({FAILING}, answers/q1)",
        f"row 10 ({REJECTED}, answers/q1)"]
    assert "unknown submission id" in problems[0] and "has no check 'answers/q9'" in problems[1]
    assert "outside 0..7" in problems[2] and "outside 0..7" in problems[3]
    assert "not a number" in problems[4] and "needs the reason" in problems[5]
    assert "already graded on row 2" in problems[6]

    assert main(out_dir=results_dir, manual=manual) == 2
    err = capsys.readouterr().err
    assert "nothing was merged" in err and "row 5" in err
    assert before == {sid: (results_dir / sid / "result.json").read_bytes() for sid in before}
    assert not (results_dir / "index.html").exists() and not (results_dir / "_manual.json").exists()


def test_missing_columns_are_reported(results_dir):
    bad = results_dir / "manual.csv"
    bad.write_text("student,points\nx,1\n", encoding="utf-8")
    with pytest.raises(ManualError, match="missing column.*submission_id, check_id, score"):
        merge_manual(results_dir, bad)


def test_a_csv_saved_by_excel_on_chinese_windows_is_read(results_dir):
    manual = write_csv(results_dir / "manual.csv", [[TIMEOUT, "answers/q5", "7", "6", "噪声解释得不错"]],
                       encoding="gb18030")
    assert merge_manual(results_dir, manual) == (1, 1)
    assert check(results_dir, TIMEOUT, "answers/q5").details["override"]["reason"] == "噪声解释得不错"


def test_a_grade_outlives_the_check_and_a_resubmission_is_flagged(results_dir, capsys):
    sha = result(results_dir, TIMEOUT).submission.sha256
    handgrades.record(results_dir, [
        handgrades.HandGrade(TIMEOUT, "answers/q4", 5, "ok", "alice", "2026-01-01T00:00:00Z", "a.csv row 2",
                             "0" * 64 if sha != "0" * 64 else "1" * 64),
        handgrades.HandGrade(TIMEOUT, "answers/q9", 1, "", "alice", "2026-01-01T00:00:00Z", "a.csv row 3", sha)])
    q4 = check(results_dir, TIMEOUT, "answers/q4")
    assert q4.score == 5 and q4.messages["en"] == "TA's comment: ok (graded on an earlier version of the archive)"
    assert main(out_dir=results_dir) == 0
    err = capsys.readouterr().err
    assert f"the hand grade of {TIMEOUT} answers/q9 is kept but not shown" in err
    assert len(stored(results_dir)["grades"]) == 2


def test_an_unreadable_store_stops_the_reports(results_dir, capsys):
    (results_dir / "_manual.json").write_text("{not json", encoding="utf-8")
    assert main(out_dir=results_dir) == 2
    assert "_manual.json holds the TAs' grades but cannot be read" in capsys.readouterr().err
    assert not (results_dir / "index.html").exists()
