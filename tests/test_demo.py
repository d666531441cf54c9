"""The demo submissions: rebuilt byte for byte from the solution, and graded by the README's first command
with the expected outcomes."""

from __future__ import annotations

import gzip
import io
import json
import re
import shlex
import tarfile

import pytest

from grader.checks.registry import GROUPS
from grader.cli import main as cli_main
from scripts.build_demos import DEMOS, MISSING, PERFECT, ROSTER, build
from tests.conftest import REPO, SOLUTION

SUBMISSIONS = REPO / "submissions"
HAND_GRADED = {"answers"}  # the TA grades these; the grader leaves them "skipped"
NOTEBOOK_DEMO = next(d for d in DEMOS if d.fails == ("notebook",))
# the lines a solution marks its regions with (grader/assign/regions.py), written out independently here
MARKER = re.compile(r"^\s*(# (BEGIN|END) SOLUTION\b|# PROMPT:|<!-- (BEGIN|END) SOLUTION\b)")


def _content(name: str, data: bytes) -> bytes:
    """What a file holds: the tar inside a .tar.gz (another zlib may compress the same tar differently)."""
    return gzip.decompress(data) if name.endswith(".gz") else data


def _members(data: bytes) -> dict[str, str]:
    """The text files of one demo archive by their path under week-06/."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as archive:
        return {m.name.removeprefix("week-06/"): archive.extractfile(m).read().decode("utf-8")
                for m in archive.getmembers() if m.isfile()}


def _lines(rel: str, text: str) -> list[str]:
    """A file's lines; a notebook's are its cells' source lines, cell after cell."""
    if not rel.endswith(".ipynb"):
        return text.split("\n")
    cells = json.loads(text)["cells"]
    return [line for c in cells for line in "".join(c["source"]).split("\n")]


def readme_first_command() -> list[str]:
    """The arguments of the `unet-grader` call in the README's first code block."""
    block = (REPO / "README.md").read_text(encoding="utf-8").split("```bash\n", 1)[1].split("```", 1)[0]
    install, grade = block.splitlines()[0].split(" && ")
    assert install.startswith("pip install ")
    args = shlex.split(grade)
    assert args[:3] == ["unet-grader", "grade", "submissions/"]
    return args[1:]


def test_the_shipped_demos_are_up_to_date_and_rebuild_identically():
    first, second = build(), build()
    assert first == second
    shipped = {p.name: p.read_bytes() for p in SUBMISSIONS.iterdir() if p.is_file()}
    stale = sorted(name for name in first.keys() | shipped.keys()
                   if name not in first or name not in shipped
                   or _content(name, first[name]) != _content(name, shipped[name]))
    assert stale == [], "run `python scripts/build_demos.py`"
    assert {d.archive for d in DEMOS} | {ROSTER} == set(first)


def test_every_mistake_names_a_registered_group_and_is_distinct():
    assert {g for d in DEMOS for g in d.fails} <= set(GROUPS)
    mistakes = [frozenset(d.fails) for d in DEMOS if not d.broken and d is not PERFECT]
    assert all(mistakes) and len(set(mistakes)) == len(mistakes)
    assert sum(d.broken for d in DEMOS) == 1


def test_the_perfect_demo_is_the_solution_without_its_region_markers():
    files = _members(build()[PERFECT.archive])
    for rel, text in files.items():
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, rel
        if rel.endswith((".py", ".ipynb", ".md")):
            solution = _lines(rel, (SOLUTION / rel).read_text(encoding="utf-8"))
            assert _lines(rel, text) == [line for line in solution if not MARKER.match(line)], rel
    assert any(MARKER.match(line) for line in _lines("Assignment.ipynb",
                                                      (SOLUTION / "Assignment.ipynb").read_text("utf-8")))


def test_the_readme_command_grades_with_the_demo_profile():
    args = readme_first_command()
    assert args[args.index("--profile") + 1] == "demo"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The demos graded as the README's first command grades them (every check), with the demo roster."""
    out = tmp_path_factory.mktemp("demo") / "reports"
    args = [str(SUBMISSIONS) if a == "submissions/" else str(out) if a == "reports/" else a
            for a in readme_first_command()]
    code = cli_main([*args, "--roster", str(SUBMISSIONS / ROSTER), "--seed", "3"])
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    return code, out, results


def _result(graded, demo):
    return graded[2][demo.archive.removesuffix(".tar.gz")]


def _automatic(result: dict) -> list[dict]:
    return [c for c in result["checks"] if c["id"].split("/")[0] not in HAND_GRADED]


def _failing_groups(result: dict) -> set[str]:
    return {c["id"].split("/")[0] for c in _automatic(result) if c["status"] != "passed"}


@pytest.mark.slow
def test_the_batch_grades_every_demo(graded):
    code, out, results = graded
    assert code == 0
    assert set(results) == {d.archive.removesuffix(".tar.gz") for d in DEMOS}
    assert (out / "index.html").is_file() and (out / "grades.csv").is_file()


@pytest.mark.slow
def test_the_perfect_demo_gets_every_automatic_point(graded):
    result = _result(graded, PERFECT)
    assert result["status"] == "graded"
    assert {c["id"].split("/")[0] for c in result["checks"]} == set(GROUPS)
    automatic = _automatic(result)
    assert [c["id"] for c in automatic if c["status"] != "passed"] == []
    assert sum(c["score"] for c in automatic) == sum(c["max_score"] for c in automatic) > 0
    assert {c["status"] for c in result["checks"] if c["id"].split("/")[0] in HAND_GRADED} == {"skipped"}
    page = (graded[1] / PERFECT.archive.removesuffix(".tar.gz") / "report.html").read_text(encoding="utf-8")
    assert "SOLUTION" not in page


MISTAKES = [d for d in DEMOS if d.fails]


@pytest.mark.slow
@pytest.mark.parametrize("demo", MISTAKES, ids=lambda d: d.slug)
def test_each_mistake_fails_its_groups_only(graded, demo):
    result = _result(graded, demo)
    assert result["status"] == "graded"
    assert _failing_groups(result) == set(demo.fails)


@pytest.mark.slow
def test_the_notebook_demo_says_where_it_stopped(graded):
    runs = next(c for c in _result(graded, NOTEBOOK_DEMO)["checks"] if c["id"] == "notebook/runs")
    assert "NameError" in runs["message"] and 0 < runs["score"] < runs["max_score"]


@pytest.mark.slow
def test_the_broken_demo_is_rejected(graded):
    result = _result(graded, next(d for d in DEMOS if d.broken))
    assert result["status"] == "rejected" and result["error"]


@pytest.mark.slow
def test_the_demo_roster_lists_the_student_who_handed_in_nothing(graded):
    roster = json.loads((graded[1] / "roster.json").read_text(encoding="utf-8"))
    missing = [(s["student_id"], s["name"]) for s in roster["students"] if s["status"] == "missing"]
    assert missing == MISSING and roster["unmatched"] == [] and roster["ambiguous"] == []
