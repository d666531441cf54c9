"""Student pages and the class dashboard, rendered from the fixture results in tests/fixtures/results/."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from urllib.parse import quote, unquote

from grader import cli
from grader.report import render, render_all
from tests.conftest import REPORT_FIXTURES as FIXTURES
from tests.conftest import copy_results

PASSING, FAILING, TIMEOUT, REJECTED = "2021001_张伟", "2021002_li", "2021003_wang", "2021004_zhao"


def page(results_dir: Path, sid: str) -> str:
    return (results_dir / sid / "report.html").read_text(encoding="utf-8")


def cells(html: str, cls: str) -> list[str]:
    return re.findall(rf'<td class="{cls}">([^<]*)</td>', html)


def section(html: str, anchor: str) -> str:
    """The HTML of one check's card on a student page."""
    start = html.index(f'id="{anchor}"')
    ends = [i for i in (html.find('<div class="check ', start), html.find("</section>", start)) if i > 0]
    return html[start:min(ends)]


def test_student_page_shows_total_groups_and_bilingual_messages(rendered):
    html = page(rendered, FAILING)
    assert re.search(r'id="total">46 <small>/ 100</small>', html)
    summary = html[html.index('id="summary"'):html.index("</table>", html.index('id="summary"'))]
    groups = re.findall(r'<a href="#group-(\w+)">', summary)
    assert groups == ["jaccard", "unet_shallow", "up_add", "unet_add", "deconv2d", "training", "notebook",
                      "answers"]
    assert "5 / 12" in summary  # deconv2d: 0 + 3 + 2
    card = section(html, "check-deconv2d-notebook-example")
    assert "0 / 4" in card
    assert "deconv2d 在笔记本示例上的结果不对" in card
    assert "deconv2d is wrong on the notebook&#39;s example" in card


def test_small_matrices_side_by_side_with_differing_cells_marked(rendered):
    card = section(page(rendered, FAILING), "check-deconv2d-notebook-example")
    expected, received = card.split("<h4>", 2)[1:]
    assert cells(expected, "diff first") == ["5"] and cells(expected, "diff") == ["1"]
    assert cells(received, "diff first") == ["4"] and cells(received, "diff") == ["-1"]
    assert "[0, :, :]" in expected and "[1, :, :]" in received  # a (2, 5, 5) array: one table per channel
    assert received.count("<td") == 50
    assert "(0, 1, 2)" in card  # first differing index


def test_large_arrays_and_failing_cases_are_summarised(rendered):
    card = section(page(rendered, FAILING), "check-deconv2d-hidden-cases")
    assert "1 / 2" in card  # cases passed
    assert "large" in card and "small" not in card  # only the failing case is shown
    assert "input_shape" in card and "(4, 5, 5)" in card
    assert "(2, 9, 9)" in card and "0.5" in card and "(1, 3, 5)" in card
    assert 'class="matrix"' not in card  # 162 elements: no tables


def test_shape_mismatch_shown_without_marking_cells(rendered):
    card = section(page(rendered, FAILING), "check-jaccard-hidden-masks")
    assert "Shapes differ" in card and "Expected ()" in card and "Received (2)" in card
    assert 'class="diff' not in card


def test_training_plots_inline_and_sample_image_embedded(rendered):
    html = page(rendered, PASSING)
    card = section(html, "check-training-unet")
    assert card.count("<svg") == 1 and "0.95" in card and "0.9" in card
    assert '<img src="data:image/png;base64,' in card
    assert "Input / ground truth / prediction" in card
    # three figures on one page: their element ids must not collide
    ids = re.findall(r'<clipPath id="([^"]+)"', html)
    assert len(ids) >= 3 and len(ids) == len(set(ids))


def test_notebook_failing_cell_without_terminal_codes(rendered):
    card = section(page(rendered, FAILING), "check-notebook-runs")
    assert "16 / 42" in card and "#17" in card
    assert "plt.plot(curr_step, step_los)" in card
    assert "NameError: name &#39;step_los&#39; is not defined" in card
    assert "\x1b" not in card and "[0;31m" not in card
    assert '<a href="executed.ipynb">' in card
    assert "missing.png" not in card  # an artifact that is not there is left out


def test_answers_and_logs_are_html_escaped(rendered):
    html = page(rendered, FAILING)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; and &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&amp; &#34;quotes&#34;" in html
    assert "&lt;/div&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "数据的维度顺序是什么" in html  # the question
    assert "student printed &lt;html&gt; tags" in html and "\x1b" not in html
    assert "(no answer)" in section(html, "check-answers-q5")


def test_lang_picks_one_language_for_messages_and_labels(tmp_path):
    results_dir = copy_results(tmp_path, FAILING)
    render_all(results_dir, lang="zh")
    zh = page(results_dir, FAILING)
    assert '<html lang="zh-CN">' in zh
    assert "训练超过" not in zh and "训练后 Dice 为 0.62，低于阈值 0.9" in zh
    assert "below the threshold" not in zh and "各部分得分" in zh and "Score by part" not in zh

    render_all(results_dir, lang="en")
    en = page(results_dir, FAILING)
    assert '<html lang="en">' in en
    assert "Dice after training is 0.62, below the threshold 0.9" in en
    assert "低于阈值" not in en and "Score by part" in en and "各部分得分" not in en
    dashboard = (results_dir / "index.html").read_text(encoding="utf-8")
    assert "UNet lab: class dashboard" in dashboard and "全班" not in dashboard


def test_message_falls_back_to_the_stored_message(tmp_path):
    results_dir = copy_results(tmp_path, PASSING)
    data = json.loads((results_dir / PASSING / "result.json").read_text(encoding="utf-8"))
    data["checks"][0].update(messages={}, message="only one language")
    (results_dir / PASSING / "result.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    render_all(results_dir, lang="en")
    assert "only one language" in section(page(results_dir, PASSING), "check-jaccard-notebook-cases")


def test_artifacts_outside_the_submission_folder_are_ignored(tmp_path):
    results_dir = copy_results(tmp_path, TIMEOUT)
    (tmp_path / "secret.png").write_bytes((FIXTURES / PASSING / "artifacts" / "q2_loss.png").read_bytes())
    data = json.loads((results_dir / TIMEOUT / "result.json").read_text(encoding="utf-8"))
    outside = {"sample": "../secret.png", "loss_plot": str(tmp_path / "secret.png"),
               "executed_notebook": "/etc/hostname"}
    data["checks"][0]["details"]["artifacts"] = outside
    (results_dir / TIMEOUT / "result.json").write_text(json.dumps(data), encoding="utf-8")
    render_all(results_dir)
    html = page(results_dir, TIMEOUT)
    assert "<img" not in html and "secret.png" not in html and "hostname" not in html


def test_rejected_page_shows_the_reason(rendered):
    html = page(rendered, REJECTED)
    assert "the archive 2021004_zhao.tar.gz is corrupt" in html and "Why it could not be graded" in html
    assert 'id="summary"' not in html


def test_environment_and_timings_on_the_page(rendered):
    html = page(rendered, PASSING)
    env = html[html.index('id="environment"'):]
    for value in ("bubblewrap: no network", "cpu", "1234", "0.1.0"):
        assert value in env
    assert re.search(r'<td class="mono">sandbox</td><td class="num">90.1 s</td>', html)


def dashboard_rows(html: str) -> list[str]:
    body = html[html.index('id="submissions"'):html.index("</table>", html.index('id="submissions"'))]
    return re.findall(r'<tr class="row-\w+">\s*<td class="mono">(?:<a href="[^"]*">)?([^<]+)', body)


def test_dashboard_lists_every_submission_with_links_and_statistics(rendered):
    html = (rendered / "index.html").read_text(encoding="utf-8")
    assert dashboard_rows(html) == [PASSING, FAILING, TIMEOUT, REJECTED]
    assert '<a href="2021001_%E5%BC%A0%E4%BC%9F/report.html">2021001_张伟</a>' in html
    rejected = html[html.index('id="rejected"'):]
    assert "2021004_zhao" in rejected and "not a gzip file" in rejected
    assert html.count("<svg") == 1  # the histogram

    rates = html[html.index('id="pass-rates"'):html.index("</table>", html.index('id="pass-rates"'))]
    assert re.search(r'deconv2d/notebook-example</td><td class="num">2 / 3</td><td class="num">66.7', rates)
    assert re.search(r'training/unet</td><td class="num">1 / 3</td>', rates)

    failures = html[html.index('id="failures"'):html.index("</table>", html.index('id="failures"'))]
    timeout = '<td class="num">1</td><td class="mono">training/unet</td><td>训练超过了 300 秒'
    assert timeout in failures
    assert "awaiting a TA" not in failures  # not yet graded by hand is no failure

    slowest = html[html.index('id="slowest"'):html.index("</table>", html.index('id="slowest"'))]
    assert re.findall(r'report.html">([^<]+)</a>', slowest)[:2] == [TIMEOUT, FAILING]
    batch = html[html.index('id="batch"'):]
    assert "bubblewrap: no network" in batch and "× 4" in batch
    assert "637.9" in html  # total time of the batch
    assert "similarity.html" not in html


def test_dashboard_links_the_similarity_report_when_present(tmp_path):
    results_dir = copy_results(tmp_path, TIMEOUT)
    (results_dir / "similarity.html").write_text("<html></html>", encoding="utf-8")
    render_all(results_dir)
    assert '<a href="similarity.html"' in (results_dir / "index.html").read_text(encoding="utf-8")


def test_unreadable_result_is_listed_and_the_rest_rendered(tmp_path):
    results_dir = copy_results(tmp_path, TIMEOUT, REJECTED)
    (results_dir / "broken").mkdir()
    (results_dir / "broken" / "result.json").write_text("{not json", encoding="utf-8")
    render_all(results_dir)
    html = (results_dir / "index.html").read_text(encoding="utf-8")
    assert "broken" in html[html.index('id="unreadable"'):]
    assert dashboard_rows(html) == [TIMEOUT, REJECTED]


def test_a_result_the_page_cannot_show_does_not_stop_the_others(tmp_path, monkeypatch):
    results_dir = copy_results(tmp_path, TIMEOUT, REJECTED)
    real = render.student_page

    def fragile(entry, *args):
        if entry.id == TIMEOUT:
            raise ValueError("details not as expected")
        return real(entry, *args)

    monkeypatch.setattr(render, "student_page", fragile)
    render_all(results_dir)
    assert (results_dir / REJECTED / "report.html").is_file()
    assert not (results_dir / TIMEOUT / "report.html").exists()
    html = (results_dir / "index.html").read_text(encoding="utf-8")
    assert "details not as expected" in html[html.index('id="unreadable"'):]
    assert dashboard_rows(html) == [TIMEOUT, REJECTED]  # still counted, with its scores


def test_pages_fetch_nothing_and_allow_no_foreign_script(rendered):
    for path in [rendered / "index.html", *rendered.glob("*/report.html")]:
        html = path.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', html), path
        assert "@import" not in html and "url(http" not in html
        policy = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
        assert "default-src 'none'" in policy
        scripts = re.findall(r"<script>", html)
        assert len(scripts) == (1 if path.name == "index.html" else 0)
        assert ("script-src 'none'" in policy) == (path.name != "index.html")


def test_report_command(tmp_path, capsys):
    results_dir = copy_results(tmp_path, PASSING, REJECTED)
    assert cli.main(["report", str(results_dir), "--lang", "en"]) == 0
    assert "Score by part" in page(results_dir, PASSING)
    assert (results_dir / "index.html").is_file() and (results_dir / "grades.csv").is_file()
    assert cli.main(["report", str(results_dir / "nowhere")]) == 2
    assert "no results folder" in capsys.readouterr().err


def test_the_same_mistake_counts_once_whatever_the_numbers(tmp_path):
    from grader.messages import text
    from grader.results import CheckResult, Environment, SubmissionInfo, SubmissionResult

    for sid, got in (("s1", 0.61), ("s2", 0.57)):
        why = text(f"期望 0.44，实际 {got}。这是 Dice 系数", f"expected 0.44, got {got}. That is the Dice coefficient")
        SubmissionResult(SubmissionInfo(sid, f"{sid}.tar.gz", "0" * 64), Environment("t"),
                         checks=[CheckResult.make("jaccard/hidden-masks", "failed", 3, why)]
                         ).write(tmp_path / sid / "result.json")
    render_all(tmp_path, lang="en")
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    failures = html[html.index('id="failures"'):html.index("</table>", html.index('id="failures"'))]
    assert failures.count("That is the Dice coefficient") == 1
    assert '<td class="num">2</td>' in failures


# ---- what the pages must not hide -----------------------------------------------------------------------

def _write_result(folder: Path, sid: str, *checks, status: str = "graded", error: str | None = None) -> None:
    from grader.results import Environment, SubmissionInfo, SubmissionResult

    SubmissionResult(SubmissionInfo(sid, f"{sid}.tar.gz", "0" * 64), Environment("t"), status=status, error=error,
                     checks=list(checks)).write(folder / sid / "result.json")


def _check(cid: str, status: str, points: float, zh: str, en: str, score: float | None = None, **details):
    from grader.messages import text
    from grader.results import CheckResult

    return CheckResult.make(cid, status, points, text(zh, en), score=score, **details)


def _card(html: str, label: str) -> str:
    """The value shown on the dashboard's card with this (English) label."""
    found = re.search(rf'{re.escape(label)}</div><div class="value">(.*?)</div>', html)
    assert found, label
    return found.group(1)


def test_problems_card_counts_timeouts_errors_and_grader_failures_and_links_them(tmp_path):
    results_dir = copy_results(tmp_path, PASSING, FAILING, TIMEOUT)  # TIMEOUT: three networks stopped
    _write_result(results_dir, "s-grader", _check("grader", "error", 0, "评分程序出错", "the worker died twice"))
    _write_result(results_dir, "s-judge", _check("deconv2d/hidden-cases", "error", 6, "评分程序内部错误（请联系助教）",
                                                 "internal grader error (tell the TA): KeyError('x')"))
    _write_result(results_dir, "s-wrong", _check("jaccard/batch", "failed", 1.5, "结果不对", "wrong values"))
    render_all(results_dir, lang="en")
    html = (results_dir / "index.html").read_text(encoding="utf-8")

    assert _card(html, "Results with problems") == '<a href="#problems">3</a>'
    listed = html[html.index('id="problem-list"'):html.index("</table>", html.index('id="problem-list"'))]
    links = re.findall(r'<a class="mono" href="([^"]+)">([^<]+)</a>', listed)
    assert links == [(f"{quote(TIMEOUT)}/report.html#check-training-{n}", f"training/{n}")
                     for n in ("unet", "unet_shallow", "unet_add")] + [
        ("s-grader/report.html#check-grader", "grader"),
        ("s-judge/report.html#check-deconv2d-hidden-cases", "deconv2d/hidden-cases")]
    assert "s-wrong" not in listed and FAILING not in listed  # wrong work is not a grading problem
    for href, _ in links:  # every link lands on the check's card
        target, anchor = href.split("#")
        assert f'id="{anchor}"' in (results_dir / unquote(target)).read_text(encoding="utf-8")


def test_a_check_whose_failures_are_mostly_timeouts_says_so(tmp_path):
    for i in range(7):
        status = "passed" if i == 0 else "timeout" if i <= 4 else "failed"
        _write_result(tmp_path, f"s{i}", _check("training/unet", status, 6, "训练", "training"))
    render_all(tmp_path, lang="en")
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    rates = html[html.index('id="pass-rates"'):html.index("</table>", html.index('id="pass-rates"'))]
    assert re.search(r'training/unet</td><td class="num">1 / 7</td>', rates)
    assert '<td class="note mostly-timeouts">4 of 6 failures are timeouts</td>' in rates


def test_scores_say_what_awaits_hand_grading_and_answers_read_graded_or_not_yet(tmp_path):
    graded = _check("answers/q4", "failed", 7, "助教评语：不完整", "TA's comment: incomplete", score=5,
                    answer="sigmoid",
                    override={"by": "manual", "score": 5, "previous_score": 0, "reason": "incomplete"},
                    automatic={"status": "skipped", "score": 0, "message": "awaiting"})
    waiting = _check("answers/q5", "skipped", 7, "等待助教评分", "awaiting grading by a TA", score=0, answer="noise")
    _write_result(tmp_path, "s1", _check("jaccard/batch", "passed", 1.5, "通过", "passed"),
                  _check("deconv2d/hidden-cases", "failed", 6, "错", "wrong"), graded, waiting)
    render_all(tmp_path, lang="en")
    html = page(tmp_path, "s1")
    note = "automatic 1.5 / 7.5, graded by hand 5 / 7, awaiting hand grading 7"
    assert f'<div class="muted" id="score-note">{note}</div>' in html
    q4, q5 = section(html, "check-answers-q4"), section(html, "check-answers-q5")
    assert '<span class="badge s-graded">graded</span>' in q4 and "failed" not in q4
    assert '<span class="badge s-ungraded">not graded yet</span>' in q5 and "skipped" not in q5
    dashboard = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<span class="badge s-ungraded">+7 to grade</span>' in dashboard


def test_a_rejected_page_states_its_reason_once_and_how_to_pack_again(tmp_path):
    reason = ("the archive s1.tar.gz is corrupt", "压缩包已损坏")
    skipped = [_check(cid, "skipped", 3, reason[1], reason[0]) for cid in ("jaccard/batch", "deconv2d/hidden-cases")]
    _write_result(tmp_path, "s1", *skipped, status="rejected", error=f"{reason[1]} / {reason[0]}")
    render_all(tmp_path)
    html = page(tmp_path, "s1")
    assert html.count(reason[0]) == 1 and html.count(reason[1]) == 1
    assert 'class="check ' not in html
    repack = html[html.index('id="repack"'):]
    assert "tar -zcvf week-06.tar.gz week-06" in repack and "from the folder above week-06" in repack
    assert "上一级文件夹" in repack
