"""`unet-grader similarity DIR`: the page and the CSV it writes, through the command line."""

from __future__ import annotations

import csv
import re

from grader.cli import main as cli

from .test_similarity import ALICE, ANSWERS, MALLORY, add_submission, make_kit, training_log


def similarity(out, kit, *extra: str) -> int:
    return cli(["similarity", str(out), "--kit", str(kit), "--solution", str(out.parent / "none"), *extra])


def copied_batch(tmp_path):
    kit, out = make_kit(tmp_path), tmp_path / "reports"
    log = training_log(1)
    alice = add_submission(out, "alice", ALICE, answers=ANSWERS["alice"], deconv=ALICE["deconv2d"], log=log)
    (alice / "report.html").write_text("<html></html>", encoding="utf-8")
    evil = "'</pre><script>alert(1)</script>'"
    sneaky = dict(MALLORY, deconv2d=MALLORY["deconv2d"].replace("'bad channels'", evil))
    add_submission(out, "mallory", sneaky, answers=ANSWERS["mallory"], deconv=sneaky["deconv2d"], log=log)
    add_submission(out, "bob", log=training_log(2))
    return kit, out


def test_the_command_writes_a_page_and_a_csv_ranked_by_score(tmp_path, capsys):
    kit, out = copied_batch(tmp_path)

    assert similarity(out, kit) == 0

    assert "3 submission(s) compared, 1 pair(s)" in capsys.readouterr().out
    every = list(csv.DictReader((out / "similarity.csv").open(encoding="utf-8")))
    assert [r["kind"] for r in every] == ["pair", "cluster", "set-aside"]
    rows = [r for r in every if r["kind"] == "pair"]
    assert [(r["rank"], r["a"], r["b"], r["evidence"]) for r in rows] == [("1", "alice", "mallory",
                                                                           "outputs code answers")]
    # Mallory renamed Alice's names and moved her statements: the same code once normalised
    assert (every[1]["rank"], every[1]["members"], every[1]["evidence"]) == ("C1", "alice mallory", "identical-code")
    assert float(rows[0]["score"]) == 1.0
    assert "deconv2d" in rows[0]["code"] and "q4" in rows[0]["answers"]
    assert int(rows[0]["output_run"]) >= 5 and rows[0]["output_values"].split()[0] in training_log(1)


def test_the_page_works_offline_shows_the_evidence_and_escapes_what_students_wrote(tmp_path):
    kit, out = copied_batch(tmp_path)
    similarity(out, kit)
    page = (out / "similarity.html").read_text(encoding="utf-8")

    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "不是结论" in page and "not a verdict" in page  # the caution, in both languages
    assert "强证据 / strong evidence" in page
    assert 'href="alice/report.html"' in page and 'href="mallory/report.html"' not in page
    assert '<span class="line shared"><span class="no">' in page and "→ " in page  # the side-by-side code
    assert "<mark>" in page  # the answers' shared text
    assert "code_min_shared" in page  # the settings it ran with


def test_thresholds_can_be_set_on_the_command_line(tmp_path):
    kit, out = copied_batch(tmp_path)

    strict = ["--min-run", "1000", "--code-min-shared", "1000", "--text-min-shared", "1000"]
    assert similarity(out, kit, *strict) == 0

    rows = list(csv.DictReader((out / "similarity.csv").open(encoding="utf-8")))
    assert [r["kind"] for r in rows] == ["set-aside"]  # no pair, no cluster
    assert "没有超过阈值的配对" in (out / "similarity.html").read_text(encoding="utf-8")


def test_a_missing_results_folder_is_a_usage_error(tmp_path, capsys):
    assert cli(["similarity", str(tmp_path / "nowhere")]) == 2
    assert "no results folder" in capsys.readouterr().err


def test_without_the_kit_the_page_says_so(tmp_path):
    _, out = copied_batch(tmp_path)

    assert similarity(out, tmp_path / "no-kit") == 0

    assert "未找到学生包" in (out / "similarity.html").read_text(encoding="utf-8")


def test_the_page_and_csv_report_identical_copies_and_what_was_set_aside(tmp_path):
    from .test_similarity import independent_batch

    kit, out = make_kit(tmp_path), tmp_path / "reports"
    independent_batch(out)
    for i in range(6):
        add_submission(out, f"copy{i}", MALLORY, deconv=MALLORY["deconv2d"])

    assert similarity(out, kit) == 0

    rows = list(csv.DictReader((out / "similarity.csv").open(encoding="utf-8")))
    clusters = [r for r in rows if r["kind"] == "cluster"]
    assert [r["members"] for r in clusters] == ["alice copy0 copy1 copy2 copy3 copy4 copy5"]
    note = next(r for r in rows if r["kind"] == "set-aside")["code"]
    assert re.fullmatch(r"\d+ code fingerprints and \d+ answer shingles common to more than 3 of the 9 "
                        r"submissions \(over 5% of the class\) were set aside as no evidence for a pair; "
                        r"the clusters of identical code still count them", note)
    assert int(note.split()[0]) > 0
    html = (out / "similarity.html").read_text(encoding="utf-8")
    table = html[html.index('id="clusters"'):html.index("</table>", html.index('id="clusters"'))]
    assert "7: alice, copy0, copy1, copy2, copy3, copy4, copy5" in table and "identical" in table
    assert note.split(";")[0] in html[html.index('id="set-aside"'):]
