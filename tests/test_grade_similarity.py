"""`grade --similarity`: the similarity report is written with the batch, and the dashboard links it."""

from __future__ import annotations

import pytest

from grader.cli import main as cli_main
from tests.conftest import build_submission, pack


@pytest.mark.slow  # grades in the sandbox, as tests/test_grade_batch.py
def test_grade_with_similarity_writes_the_report_the_dashboard_links(tmp_path, capsys):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    pack(build_submission(tmp_path / "a"), inbox / "2024001.tar.gz")
    pack(build_submission(tmp_path / "b"), inbox / "2024002.tar.gz")
    assert cli_main(["grade", str(inbox), "--out", str(out), "--checks", "jaccard*", "--similarity"]) == 0
    assert (out / "similarity.html").is_file() and (out / "similarity.csv").is_file()
    assert '<a href="similarity.html" id="similarity-link">' in (out / "index.html").read_text(encoding="utf-8")
    assert "2 submission(s) compared" in capsys.readouterr().out


def test_grade_without_similarity_writes_no_report(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    pack(build_submission(tmp_path / "a"), inbox / "2024001.tar.gz")
    assert cli_main(["grade", str(inbox), "--out", str(out), "--checks", "answers*"]) == 0
    assert not (out / "similarity.html").exists()
    assert "similarity.html" not in (out / "index.html").read_text(encoding="utf-8")


def test_a_failing_similarity_analysis_is_reported_not_raised(tmp_path, monkeypatch, capsys):
    from grader import batch, similarity

    def broken(**kwargs):
        raise RuntimeError("analysis bug")

    monkeypatch.setattr(similarity, "main", broken)
    (tmp_path / "r").mkdir()
    batch._write_similarity(tmp_path / "r", print)
    assert "analysis bug" in capsys.readouterr().err
