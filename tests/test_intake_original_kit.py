"""Intake of hand-ins built on the course's 2019 kit: any top folder name, litter, the notebook chosen.

Each hand-in is the original-kit fixture (tests/fixtures/original_kit/) built in tmp_path, with the
litter real hand-ins carry (`.ipynb_checkpoints/`, `.DS_Store`, `resources/*.png`), packed as students do.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.cli import main as cli_main
from grader.intake import SubmissionSource, collect, unpack
from tests.conftest import build_original_kit

FUNCTION_GROUPS = ("jaccard", "unet_shallow", "up_add", "unet_add", "deconv2d")


def packed(folder: Path, archive: Path) -> Path:
    """`tar -zcvf` or a zipper, with the folder as the archive's one top entry."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                zf.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    else:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(folder, arcname=folder.name)
    return archive


def unpacked(tmp_path: Path, folder: Path, name: str = "hand-in.tar.gz"):
    archive = packed(folder, tmp_path / name)
    return unpack(SubmissionSource(id="s", path=archive, kind="archive", sha256=""), tmp_path / "dest")


@pytest.mark.parametrize("top", ["week7", "DL_week_07", "Week 7", "week-06"])
@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_any_top_folder_name_is_the_root_and_the_litter_is_harmless(tmp_path, top, suffix):
    folder = build_original_kit(tmp_path / "src", top=top)
    got = unpacked(tmp_path, folder, f"{top}{suffix}")
    root = (tmp_path / "dest" / top).resolve()
    assert got.root == root
    assert got.notebook == root / "Assignment.ipynb"
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert written == ["Assignment.ipynb", "resources/loss.png", "unet/__init__.py", "unet/dice_loss.py",
                       "unet/eval.py", "unet/unet_model.py", "unet/unet_parts.py"]
    # the one warning says which notebook is graded and that the checkpoint copy is not
    assert [w.en for w in got.warnings] == [f"Several notebooks found; grading {top}/Assignment.ipynb (ignored: "
                                            f"{top}/.ipynb_checkpoints/Assignment-checkpoint.ipynb)."]
    assert f"{top}/Assignment.ipynb" in got.warnings[0].zh


def test_the_real_notebook_wins_over_checkpoints_and_stray_notebooks_and_the_warning_names_them(tmp_path):
    blank = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    folder = build_original_kit(tmp_path / "src", files={"Untitled.ipynb": blank * 50,
                                                         "resources/old/Assignment (copy).ipynb": blank})
    got = unpacked(tmp_path, folder)
    assert got.notebook == got.root / "Assignment.ipynb"
    assert json.loads(got.notebook.read_text())["cells"]  # the student's notebook, not a blank copy
    (warning,) = got.warnings
    assert warning.en == ("Several notebooks found; grading Week 7/Assignment.ipynb (ignored: "
                          "Week 7/.ipynb_checkpoints/Assignment-checkpoint.ipynb, Week 7/Untitled.ipynb, "
                          "Week 7/resources/old/Assignment (copy).ipynb).")


def test_a_renamed_notebook_is_taken_over_its_checkpoint_copy(tmp_path):
    folder = build_original_kit(tmp_path / "src", top="DL_week_07")
    (folder / "Assignment.ipynb").rename(folder / "DL_week_07.ipynb")
    (folder / ".ipynb_checkpoints" / "Assignment-checkpoint.ipynb").rename(
        folder / ".ipynb_checkpoints" / "DL_week_07-checkpoint.ipynb")
    got = unpacked(tmp_path, folder)
    assert got.notebook == got.root / "DL_week_07.ipynb"
    assert "ignored: DL_week_07/.ipynb_checkpoints/DL_week_07-checkpoint.ipynb" in got.warnings[0].en


def test_a_folder_named_with_a_space_is_collected_as_one_submission(tmp_path):
    folder = build_original_kit(tmp_path / "downloads")
    archive = packed(folder, tmp_path / "downloads" / "Week 7.tar.gz")
    shutil.rmtree(folder)
    (found,) = collect([tmp_path / "downloads"])
    assert found.path == archive and found.id == "Week_7"


@pytest.mark.slow
def test_original_kit_hand_ins_through_the_grader_get_every_function_point_or_fail_naming_the_file(tmp_path):
    """End to end (sandbox included): a `Week 7` hand-in with its litter, and one with dice_loss.py beside unet/."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    packed(build_original_kit(tmp_path / "ok"), inbox / "Week 7.tar.gz")
    packed(build_original_kit(tmp_path / "misplaced", "misplaced_dice", top="week7"), inbox / "week7.zip")
    code = cli_main(["grade", str(inbox), "--out", str(tmp_path / "out"), "--workers", "1", "--seed", "7",
                     "--checks", ",".join(f"{g}*" for g in FUNCTION_GROUPS)])
    assert code == 0
    ok = json.loads((tmp_path / "out" / "Week_7" / "result.json").read_text())
    assert ok["status"] == "graded" and ok["score"] == ok["max_score"] > 0
    assert {c["id"].split("/")[0] for c in ok["checks"]} == set(FUNCTION_GROUPS)
    assert any("grading Week 7/Assignment.ipynb (ignored: Week 7/.ipynb_checkpoints/" in w
               for w in ok["extra"]["warnings"])
    bad = {c["id"]: c for c in json.loads((tmp_path / "out" / "week7" / "result.json").read_text())["checks"]}
    lost = {cid for cid, c in bad.items() if c["score"] < c["max_score"]}
    assert lost == {cid for cid in bad if cid.startswith("jaccard/")}
    assert all(bad[cid]["status"] == "failed" and "found at dice_loss.py, expected at unet/dice_loss.py"
               in bad[cid]["message"] for cid in lost)


def test_a_folder_hand_in_names_its_checkpoint_copy_without_copying_it(tmp_path):
    folder = build_original_kit(tmp_path / "src", top="week7")
    got = unpack(SubmissionSource(id="s", path=folder, kind="folder", sha256=""), tmp_path / "dest")
    assert got.root == (tmp_path / "dest").resolve()  # a folder is copied as its contents
    assert got.notebook == got.root / "Assignment.ipynb"
    assert not (got.root / ".ipynb_checkpoints").exists()
    assert [w.en for w in got.warnings] == ["Several notebooks found; grading Assignment.ipynb (ignored: "
                                            ".ipynb_checkpoints/Assignment-checkpoint.ipynb)."]
