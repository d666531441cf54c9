"""The demo submissions: rebuilt byte for byte from the solution, and graded with the expected outcomes."""

from __future__ import annotations

import gzip
import json

import pytest

from grader.checks.registry import GROUPS
from grader.cli import main as cli_main
from scripts.build_demos import DEMOS, MISSING, PERFECT, ROSTER, build
from tests.conftest import REPO

SUBMISSIONS = REPO / "submissions"
FUNCTION_GROUPS = ("jaccard", "unet_shallow", "up_add", "unet_add", "deconv2d")
NOTEBOOK_DEMO = next(d for d in DEMOS if "notebook" in d.fails)


def _content(name: str, data: bytes) -> bytes:
    """What a file holds: the tar inside a .tar.gz (another zlib may compress the same tar differently)."""
    return gzip.decompress(data) if name.endswith(".gz") else data


def test_the_shipped_demos_are_up_to_date_and_rebuild_identically():
    first, second = build(), build()
    assert first == second
    shipped = {p.name: p.read_bytes() for p in SUBMISSIONS.iterdir() if p.is_file()}
    stale = sorted(name for name in first.keys() | shipped.keys()
                   if name not in first or name not in shipped
                   or _content(name, first[name]) != _content(name, shipped[name]))
    assert stale == [], "run `python scripts/build_demos.py`"
    assert {d.archive for d in DEMOS} | {ROSTER} == set(first)


def test_every_mistake_names_a_registered_group():
    assert {g for d in DEMOS for g in d.fails} <= set(GROUPS)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The demos as the README's command grades them, on the function checks, with the demo roster."""
    out = tmp_path_factory.mktemp("demo") / "reports"
    checks = ",".join(f"{g}*" for g in FUNCTION_GROUPS)
    code = cli_main(["grade", str(SUBMISSIONS), "--out", str(out), "--workers", "2", "--checks", checks,
                     "--roster", str(SUBMISSIONS / ROSTER), "--seed", "3"])
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    return code, out, results


def _failing_groups(result: dict) -> set[str]:
    return {c["id"].split("/")[0] for c in result["checks"] if c["status"] != "passed"}


@pytest.mark.slow
def test_the_batch_grades_every_demo(graded):
    code, out, results = graded
    assert code == 0
    assert set(results) == {d.archive.removesuffix(".tar.gz") for d in DEMOS}
    assert (out / "index.html").is_file() and (out / "grades.csv").is_file()


@pytest.mark.slow
def test_the_perfect_demo_gets_full_marks(graded):
    result = graded[2][PERFECT.archive.removesuffix(".tar.gz")]
    assert result["status"] == "graded" and result["checks"]
    assert result["score"] == result["max_score"]
    assert {c["id"].split("/")[0] for c in result["checks"]} == set(FUNCTION_GROUPS)


MISTAKES = [d for d in DEMOS if d.fails and d is not NOTEBOOK_DEMO]


@pytest.mark.slow
@pytest.mark.parametrize("demo", MISTAKES, ids=lambda d: d.slug)
def test_each_mistake_fails_its_groups_only(graded, demo):
    result = graded[2][demo.archive.removesuffix(".tar.gz")]
    assert result["status"] == "graded"
    assert _failing_groups(result) == set(demo.fails)


@pytest.mark.slow
def test_the_notebook_demo_loses_only_the_notebook(graded, tmp_path):
    result = graded[2][NOTEBOOK_DEMO.archive.removesuffix(".tar.gz")]
    assert _failing_groups(result) == set()  # a failing cell hides none of the code checks
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / NOTEBOOK_DEMO.archive).write_bytes((SUBMISSIONS / NOTEBOOK_DEMO.archive).read_bytes())
    assert cli_main(["grade", str(inbox), "--out", str(tmp_path / "out"), "--checks", "notebook*"]) == 0
    notebook = json.loads((tmp_path / "out" / NOTEBOOK_DEMO.archive.removesuffix(".tar.gz") / "result.json")
                          .read_text())
    assert _failing_groups(notebook) == {"notebook"}
    runs = next(c for c in notebook["checks"] if c["id"] == "notebook/runs")
    assert "NameError" in runs["message"] and 0 < runs["score"] < runs["max_score"]


@pytest.mark.slow
def test_the_broken_demo_is_rejected(graded):
    broken = next(d for d in DEMOS if d.broken)
    result = graded[2][broken.archive.removesuffix(".tar.gz")]
    assert result["status"] == "rejected" and result["error"]


@pytest.mark.slow
def test_the_demo_roster_lists_the_student_who_handed_in_nothing(graded):
    roster = json.loads((graded[1] / "roster.json").read_text(encoding="utf-8"))
    missing = [(s["student_id"], s["name"]) for s in roster["students"] if s["status"] == "missing"]
    assert missing == MISSING and roster["unmatched"] == [] and roster["ambiguous"] == []
