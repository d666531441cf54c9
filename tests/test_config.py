"""The run's configuration is checked before any work: a rubric or `--checks` that does not fit the check ids
is a usage error (exit 2) naming the ids at fault and listing the valid ones, and no submission is opened."""

from __future__ import annotations

import pytest

from grader import pipeline, rubric
from grader.checks.registry import ConfigError, all_check_ids, validate
from grader.cli import main as cli_main

from .conftest import build_submission, pack

TRAINING = ["training/unet", "training/unet_shallow", "training/unet_add"]


def _rubric(tmp_path, drop: str | None = None, extra: str = "") -> rubric.Rubric:
    """The default rubric's text without the line of `drop`, plus `extra` lines, as a file in tmp_path."""
    lines = [line for line in rubric.DEFAULT_RUBRIC.read_text(encoding="utf-8").splitlines()
             if drop is None or not line.startswith(f'"{drop}"')]
    path = tmp_path / "course.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


@pytest.fixture
def inbox(tmp_path):
    """One correct archive, and a record of every submission the batch starts to grade."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    pack(build_submission(tmp_path / "build"), folder / "2024001.tar.gz")
    return folder


@pytest.fixture
def graded(monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "grade", lambda source, settings: calls.append(source.id))
    return calls


def test_the_default_rubric_fits_and_globs_select_ids():
    assert validate(rubric.load(), None) == all_check_ids()
    assert len(all_check_ids()) == 24 and all_check_ids()[0] == "jaccard/notebook-cases"
    assert validate(rubric.load(), ["training*"]) == TRAINING
    assert validate(rubric.load(), ["training"]) == TRAINING  # a group's name selects its sub-ids
    assert validate(rubric.load(), ["deconv2d/numpy-only", "answers/q1"]) == ["deconv2d/numpy-only", "answers/q1"]


def test_a_rubric_that_lacks_an_id_names_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        validate(rubric.load(_rubric(tmp_path, drop="training/unet_add")), None)
    message = str(caught.value)
    assert "gives no points for training/unet_add." in message and "缺少检查项 training/unet_add" in message
    assert "must list exactly these check ids: jaccard/notebook-cases," in message
    assert "answers/q5" in message  # the whole list of valid ids


def test_a_rubric_with_an_unknown_id_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"do not exist: jaccard/hiden-masks\b"):
        validate(rubric.load(_rubric(tmp_path, extra='"jaccard/hiden-masks" = 3\n')), None)


@pytest.mark.parametrize("value", ['-1', '"five"', 'true', 'nan', '{ points = 3 }'])
def test_points_must_be_numbers_at_least_zero(tmp_path, value):
    path = _rubric(tmp_path, drop="answers/q1", extra=f'"answers/q1" = {value}\n')
    with pytest.raises(rubric.RubricError) as caught:
        rubric.load(path)
    assert "answers/q1" in str(caught.value) and "points must be numbers >= 0" in str(caught.value)
    assert "分值必须是不小于 0 的数字" in str(caught.value)


def test_zero_points_are_allowed(tmp_path):
    loaded = rubric.load(_rubric(tmp_path, drop="answers/q1", extra='"answers/q1" = 0\n'))
    assert loaded.points("answers/q1") == 0 and validate(loaded, None) == all_check_ids()


@pytest.mark.parametrize("globs, named", [(["jacard*"], "'jacard*'"),
                                          (["jaccard*", "deconv*", "trainning"], "'trainning'")])
def test_a_glob_that_selects_nothing_names_itself(globs, named):
    with pytest.raises(ConfigError) as caught:
        validate(rubric.load(), globs)
    message = str(caught.value)
    assert f"--checks {named} selects no check id" in message and f"--checks 中的 {named}" in message
    assert "jaccard/notebook-cases" in message and "training/unet_shallow" in message


def test_grade_with_a_rubric_lacking_an_id_exits_2_before_opening_anything(inbox, graded, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli_main(["grade", str(inbox), "--out", str(out),
                     "--rubric", str(_rubric(tmp_path, drop="notebook/loss-plot"))])
    assert code == 2
    err = capsys.readouterr().err
    assert "gives no points for notebook/loss-plot" in err and "缺少检查项 notebook/loss-plot" in err
    assert graded == [] and not out.exists()


def test_grade_with_a_typo_in_checks_exits_2_before_opening_anything(inbox, graded, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["grade", str(inbox), "--out", str(out), "--checks", "jacard*"]) == 2
    err = capsys.readouterr().err
    assert "--checks 'jacard*' selects no check id" in err and "jaccard/hidden-masks" in err
    assert graded == [] and not out.exists()


def test_grade_with_bad_points_is_a_usage_error(inbox, graded, tmp_path, capsys):
    path = _rubric(tmp_path, drop="jaccard/batch", extra='"jaccard/batch" = -1.5\n')
    with pytest.raises(SystemExit) as exit_:
        cli_main(["grade", str(inbox), "--out", str(tmp_path / "out"), "--rubric", str(path)])
    assert exit_.value.code == 2
    assert "jaccard/batch = -1.5" in capsys.readouterr().err
    assert graded == []
