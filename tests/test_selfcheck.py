"""`unet-grader check`: a student's folder, the public cases, a table, an exit code, packing advice."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import time

import pytest

from grader import packing, pipeline, selfcheck
from grader.cli import main as cli_main
from grader.console import table, width, wrap
from grader.intake import Caps
from grader.messages import text
from grader.progress import Ticker
from grader.results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from grader.settings import PUBLIC_SEED
from tests.conftest import pack


def verdict(printed: str) -> str:
    """The closing sentence (English, the last one printed), unwrapped."""
    lines = printed.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("automatic function checks"))
    return " ".join(lines[start:])


@pytest.mark.slow
def test_a_correct_folder_passes_with_a_table_and_a_page(submission, tmp_path, capsys):
    folder = submission()
    html = tmp_path / "page"
    assert cli_main(["check", str(folder), "--html", str(html), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "jaccard/notebook-cases" in printed and "passed" in printed
    assert verdict(printed) == (
        "automatic function checks (public cases): all passed; NOT checked: training (--train), notebook "
        "(--notebook), written answers (graded by a TA), the TA's hidden cases")
    assert all(width(line) <= 80 for line in printed.splitlines())
    assert "by the TA" in printed  # the written answers are listed, not counted
    assert "add --train" in printed and "add --notebook" in printed
    assert "Report page" in printed and (html / "week-06" / "report.html").is_file()
    assert "jaccard/public-masks" in (html / "week-06" / "report.html").read_text(encoding="utf-8")
    result = json.loads((html / "week-06" / "result.json").read_text())
    assert result["environment"]["seed"] == PUBLIC_SEED
    assert not any(c["id"].startswith(("training", "notebook")) for c in result["checks"])
    assert not (folder / "week-06").exists() and sorted(p.name for p in folder.iterdir()) == \
        ["Assignment.ipynb", "image_utils", "unet"]  # nothing written into the student's folder


@pytest.mark.slow
def test_a_faulty_folder_fails_naming_the_task(submission, capsys, monkeypatch):
    folder = submission("jaccard_dice")
    monkeypatch.chdir(folder)
    assert cli_main(["check"]) == 1  # the current folder by default
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if "jaccard/public-masks" in line)
    assert "Q3" in row and "failed" in row
    assert "Dice" in printed and "hidden-" not in printed
    assert re.match(r"automatic function checks \(public cases\): \d+ of \d+ did not pass; NOT checked:",
                    verdict(printed))


def test_the_flags_choose_the_groups_and_only_public_cases(submission, monkeypatch):
    seen = []

    def fake_grade(source, settings):
        seen.append(settings)
        return SubmissionResult(SubmissionInfo(source.id, source.path.name), Environment("test"))

    monkeypatch.setattr(pipeline, "grade", fake_grade)
    monkeypatch.setattr(selfcheck, "GROUPS", {"answers": None, "training": None, "notebook": None})
    folder = submission()
    selfcheck.main(folder=folder, echo=lambda *_: None)
    selfcheck.main(folder=folder, train=True, notebook=True, echo=lambda *_: None)
    # training runs on its own, after the rest, in a work folder of its own
    assert [s.checks for s in seen] == [["answers"], ["answers", "notebook"], ["training"]]
    assert seen[2].work_root != seen[1].work_root
    assert all(s.public_only and s.seed == PUBLIC_SEED and s.profile == "cpu" for s in seen)


def test_usage_errors(submission, tmp_path, capsys):
    assert cli_main(["check", str(tmp_path / "nope")]) == 2
    folder = submission()
    assert cli_main(["check", str(folder), "--html", str(folder / "report")]) == 2
    assert "hand in" in capsys.readouterr().err
    assert selfcheck.default_html_dir(folder) == folder.parent / "week-06-check"


def _levels(findings: list[packing.Finding]) -> dict[str, str]:
    return {f.text.en: f.level for f in findings}


def test_a_clean_folder_has_no_packing_advice(submission):
    folder = submission()
    notebook = json.loads((folder / "Assignment.ipynb").read_text(encoding="utf-8"))
    code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["(2, 128, 128, 1)\n"]}]
    (folder / "Assignment.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    assert packing.inspect(folder, Caps()) == []


def test_packing_advice(submission, tmp_path):
    folder = submission()
    renamed = folder.rename(folder.parent / "my-lab")
    (renamed / "unet" / "model.pth").write_bytes(b"\0" * 1000)
    (renamed / "data.bin").write_bytes(b"\0" * (packing.BIG_FILE_BYTES + 1))
    (renamed / "week-06.tar.gz").write_bytes(b"\0")
    (renamed / ".ipynb_checkpoints").mkdir()
    (renamed / ".ipynb_checkpoints" / "huge.ipynb").write_bytes(b"\0" * (packing.BIG_FILE_BYTES + 1))
    found = _levels(packing.inspect(renamed, Caps(max_file_bytes=packing.BIG_FILE_BYTES)))
    messages = " | ".join(found)
    assert "called my-lab" in messages
    assert "unet/model.pth (0.0 MB) is a checkpoint" in messages
    assert "an archive inside the folder, week-06.tar.gz" in messages
    assert "saved without outputs" in messages
    assert "huge.ipynb" not in messages  # junk the intake leaves out anyway
    assert [level for text, level in found.items() if "data.bin" in text] == ["error"]  # over the file cap

    shutil.rmtree(renamed / "unet")
    (renamed / "Assignment.ipynb").unlink()
    found = _levels(packing.inspect(renamed, Caps()))
    missing = [level for text, level in found.items() if "no unet/" in text or "no Assignment.ipynb" in text]
    assert missing == ["error", "error"]


# ---- the hand-in itself, what the last line says, progress, the table's width ----------------------------

def test_a_faulty_archive_is_checked_as_the_ta_unpacks_it(submission, tmp_path, capsys):
    folder = submission("jaccard_dice")
    renamed = folder.rename(folder.parent / "my-lab")  # the intake finds the root whatever its name
    archive = pack(renamed, tmp_path / "week-06.tar.gz")
    assert cli_main(["check", str(archive), "--lang", "en"]) == 1
    printed = capsys.readouterr().out
    assert " ".join(printed.splitlines()[:2]) == f"Checking the archive {archive}"
    assert "called my-lab" in printed  # the packing advice, on the archive's contents
    row = next(line for line in printed.splitlines() if "jaccard/public-masks" in line)
    assert "Q3" in row and "failed" in row
    assert "This is the archive you hand in" in printed and "hidden-" not in printed
    assert all(width(line) <= 80 for line in printed.splitlines())


def test_an_archive_the_intake_rejects_says_why_and_how_to_pack_again(tmp_path, capsys):
    archive = tmp_path / "week-06.tar.gz"
    archive.write_bytes(b"not a gzip file at all")
    assert cli_main(["check", str(archive), "--lang", "en"]) == 1
    printed = capsys.readouterr().out
    reason = "Not a recognised archive: hand in a .tar.gz, .tgz, .tar or .zip file."
    assert f"This cannot be graded:\n{reason}" in printed and printed.count(reason) == 1  # no table
    assert "Pack it again from the folder above week-06: tar -zcvf week-06.tar.gz week-06" in printed
    assert verdict(printed).startswith(
        "automatic function checks (public cases): not run (this cannot be graded: see above); NOT checked:")


def test_an_archive_over_the_caps_is_rejected_as_at_grading(submission, tmp_path, capsys):
    folder = submission()
    (folder / "unet" / "weights.bin").write_bytes(b"\0" * (101 * 2**20))  # over the 100 MB file cap
    archive = tmp_path / "week-06.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="week-06")
    assert cli_main(["check", str(archive), "--lang", "en"]) == 1
    assert "This cannot be graded" in capsys.readouterr().out


def _fake_result(source, checks):
    return SubmissionResult(SubmissionInfo(source.id, source.path.name), Environment("test"), checks=checks)


def test_the_last_line_says_what_was_and_was_not_checked(submission, monkeypatch):
    passed = CheckResult.make("jaccard/batch", "passed", 1.5, text("通过", "passed"))
    trained = [CheckResult.make(f"training/{n}", "passed", 6, text("通过", "passed"), seconds=88.2)
               for n in ("unet", "unet_shallow", "unet_add")]
    monkeypatch.setattr(pipeline, "grade", lambda source, settings: _fake_result(
        source, trained if settings.checks == ["training"] else [passed]))
    folder = submission()

    lines: list[str] = []
    assert selfcheck.main(folder=folder, lang="en", echo=lines.append) == 0
    assert verdict(lines[-1]) == (
        "automatic function checks (public cases): all passed; NOT checked: training (--train), "
        "notebook (--notebook), written answers (graded by a TA), the TA's hidden cases")

    lines.clear()
    progress = io.StringIO()
    assert selfcheck.main(folder=folder, lang="en", train=True, echo=lines.append, progress=progress) == 0
    assert verdict(lines[-1]) == (
        "automatic function checks and training (public cases): all passed; NOT checked: notebook "
        "(--notebook), written answers (graded by a TA), the TA's hidden cases")
    said = "\n".join(lines)
    assert "Training UNet, UNet_shallow, UNet_add (cpu profile, 16 min 00 s at most)" in said
    assert [line for line in said.splitlines() if line.startswith("  training/")] == [
        f"  training/{n}: passed (1 min 28 s)" for n in ("unet", "unet_shallow", "unet_add")]
    assert progress.getvalue().startswith("  training, so far 0 s")

    lines.clear()
    monkeypatch.setattr(pipeline, "grade", lambda source, settings: _fake_result(
        source, [passed, CheckResult.make("deconv2d/hidden-cases", "failed", 6, text("错", "wrong on hidden-0"))]))
    assert selfcheck.main(folder=folder, lang="en", echo=lines.append) == 1
    assert verdict(lines[-1]).startswith("automatic function checks (public cases): 1 of 2 did not pass; NOT checked:")
    row = next(line for line in lines if "deconv2d/" in line)
    assert "deconv2d/public-cases" in row and "hidden-" not in "\n".join(lines)


def test_a_ticker_keeps_a_live_line_on_a_terminal_and_prints_lines_elsewhere():
    log = io.StringIO()
    with Ticker("training, so far", stream=log, tty=False, every_s=0.05):
        time.sleep(0.3)
    lines = log.getvalue().splitlines()
    assert lines[0] == "training, so far 0 s" and len(lines) >= 3

    screen = io.StringIO()
    with Ticker("training, so far", stream=screen, tty=True, refresh_s=0.05):
        time.sleep(0.3)
    drawn = screen.getvalue()
    assert "\n" not in drawn and drawn.count("\r\033[K") >= 4 and drawn.endswith("\r\033[K")


def test_the_table_fits_80_columns_with_long_bilingual_hints():
    hint = ("形状不一致：应返回一个标量，而你的函数返回了形状为 (2,) 的张量，请检查是否对批次求了平均\n"
            "wrong shape: should return one number, but your function returned a tensor of shape (2,): check "
            "that you average over the batch as dice_coeff does")
    rows = [["Q6", "unet_shallow/two-downsamplings", "未通过 / failed", "0/4", hint],
            ["Q1", "answers/q1", "助教评分 / by the TA", "-/6", "待助教评分 / awaiting grading by a TA"]]
    shown = table(["任务 / task", "检查 / check", "状态 / status", "得分 / points", "提示 / hint"], rows, columns=80)
    lines = shown.splitlines()
    assert all(width(line) <= 80 for line in lines)
    assert lines[2].split() == ["Q6", "unet_shallow/two-downsamplings", "未通过", "/", "failed", "0/4"]
    hint_lines = lines[3:lines.index(next(line for line in lines if line.startswith("Q1")))]
    assert all(line.startswith(" " * 13) for line in hint_lines)  # under the check, past the task column
    assert "".join(line.strip() for line in hint_lines[:2]).startswith("形状不一致：应返回一个标量，而你的函数返回了")
    assert " ".join(line.strip() for line in hint_lines).endswith("as dice_coeff does")


def test_wrap_breaks_english_at_spaces_and_chinese_anywhere():
    assert wrap("one two three four", 9) == ["one two", "three", "four"]
    assert wrap("一二三四五六", 5) == ["一二", "三四", "五六"]
    assert wrap("a" * 12, 5) == ["aaaaa", "aaaaa", "aa"]
