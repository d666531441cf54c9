"""`unet-grader check`: a student's folder, the public cases, a table, an exit code, packing advice."""

from __future__ import annotations

import json
import shutil

import pytest

from grader import packing, pipeline, selfcheck
from grader.cli import main as cli_main
from grader.intake import Caps
from grader.results import Environment, SubmissionInfo, SubmissionResult
from grader.settings import PUBLIC_SEED


@pytest.mark.slow
def test_a_correct_folder_passes_with_a_table_and_a_page(submission, tmp_path, capsys):
    folder = submission()
    html = tmp_path / "page"
    assert cli_main(["check", str(folder), "--html", str(html), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "jaccard/notebook-cases" in printed and "passed" in printed
    assert "Every automatic check passed" in printed
    assert "by the TA" in printed  # the written answers are listed, not counted
    assert "add --train" in printed and "add --notebook" in printed
    assert "Report page" in printed and (html / "week-06" / "report.html").is_file()
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
    row = next(line for line in printed.splitlines() if "jaccard/hidden-masks" in line)
    assert "Q3" in row and "failed" in row
    assert "Dice" in printed and "did not pass" in printed


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
    assert [s.checks for s in seen] == [["answers"], ["answers", "training", "notebook"]]
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
