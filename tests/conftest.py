"""Shared fixtures: fixture submissions built from the reference solution, and a direct check harness.

A fixture submission is a folder under tests/fixtures/submissions/<name>/ that lists only what differs
from solutions/week-06/: a file replaces the solution's file, a file ending in `.append` is appended to it
(so a fixture can redefine one function or class without copying the module), a file
`<notebook>.ipynb.cells/<tag>.py` becomes the source of the notebook's cells tagged `<tag>`, a `DELETE`
file lists paths to remove, and a `MOVE` file lines `old -> new` (a lab file handed in in the wrong place).
The original-kit hand-in (`original_kit/Week 7/`, see `build_original_kit`) takes overlays of the same kinds
from `original_kit_variants/<name>/`. Submissions are always built in tmp_path; tests never write into the
repo.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "week-06"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "submissions"
REPORT_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results"
ORIGINAL_KIT = Path(__file__).resolve().parent / "fixtures" / "original_kit"
ORIGINAL_VARIANTS = Path(__file__).resolve().parent / "fixtures" / "original_kit_variants"
ORIGINAL_TOP = "Week 7"


def build_submission(dest: Path, fixture: str | None = None, files: dict[str, str] | None = None) -> Path:
    """Copy the reference solution to `dest/week-06`, apply a fixture overlay and extra `files`."""
    root = dest / "week-06"
    shutil.copytree(SOLUTION, root, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return _overlay(root, FIXTURES, fixture, files)


def build_original_kit(dest: Path, variant: str | None = None, files: dict[str, str] | None = None,
                       top: str = ORIGINAL_TOP) -> Path:
    """The original-kit-style hand-in (`original_kit/Week 7/`) as `dest/<top>`, with a variant overlay
    from `original_kit_variants/`, extra `files` (`{"Assignment.ipynb": ...}` swaps in another notebook),
    and the litter real hand-ins carry: a `.ipynb_checkpoints/` copy of the notebook, `.DS_Store` files
    and a saved figure under `resources/` (made here, since git keeps none of them)."""
    root = dest / top
    shutil.copytree(ORIGINAL_KIT / ORIGINAL_TOP, root, ignore=shutil.ignore_patterns("__pycache__"))
    _overlay(root, ORIGINAL_VARIANTS, variant, files)
    if (root / "Assignment.ipynb").is_file():
        (root / ".ipynb_checkpoints").mkdir(exist_ok=True)
        shutil.copyfile(root / "Assignment.ipynb", root / ".ipynb_checkpoints" / "Assignment-checkpoint.ipynb")
    for folder in (root, root / "unet"):
        if folder.is_dir():
            (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    (root / "resources").mkdir(exist_ok=True)
    (root / "resources" / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    return root


def _overlay(root: Path, library: Path, fixture: str | None, files: dict[str, str] | None) -> Path:
    """Apply the overlay `library/fixture` and extra `files` to the submission at `root`."""
    overlays: dict[str, str] = {}
    if fixture:
        base = library / fixture
        if not base.is_dir():
            raise FileNotFoundError(f"no fixture submission {fixture!r} under {library}")
        for path in sorted(base.rglob("*")):
            if path.is_file():
                overlays[path.relative_to(base).as_posix()] = path.read_text(encoding="utf-8")
    overlays.update(files or {})
    for rel, content in overlays.items():
        if rel == "DELETE":
            for line in content.split():
                target = root / line
                shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        elif rel == "MOVE":
            for line in content.splitlines():
                old, new = (part.strip() for part in line.split("->"))
                shutil.move(root / old, root / new)
        elif rel.endswith(".append"):
            target = root / rel[: -len(".append")]
            target.write_text(target.read_text(encoding="utf-8") + "\n\n" + content, encoding="utf-8")
        elif ".ipynb.cells/" in rel:
            notebook, tag = rel.split(".ipynb.cells/")
            _replace_cells(root / f"{notebook}.ipynb", tag.removesuffix(".py"), content)
        else:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    return root


def _replace_cells(notebook: Path, tag: str, source: str) -> None:
    """Give every cell tagged `tag` the new source; a tag the notebook lacks is a fixture bug."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    cells = [c for c in data["cells"] if tag in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise KeyError(f"no cell tagged {tag!r} in {notebook.name}")
    for cell in cells:
        cell["source"] = source.splitlines(keepends=True)
    notebook.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def pack(folder: Path, archive: Path) -> Path:
    """Pack `folder` as the lab asks (`tar -zcvf week-06.tar.gz week-06`)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def run_group_direct(group, submission: Path, work: Path, *, seed: int = 1234, profile="cpu",
                     public_only: bool = False, notebook: Path | None = None, launch=None):
    """prepare -> the in-sandbox supervisor WITHOUT a sandbox -> judge, for fast tests of one check group.

    The same protocol as in the sandbox, through files. `launch(lib, args, cwd, timeout)` starts the
    supervisor; tests that grade many submissions may pass one that reuses a process which has already
    imported torch.
    """
    from grader.checks.base import CheckContext
    from grader.rubric import load
    from grader.stagerun import run_trusted, start_trusted

    ctx = CheckContext(submission_dir=submission, notebook=notebook, seed=seed, profile=profile, rubric=load(),
                       io_root=work / "inputs", artifacts_dir=work / "artifacts", public_only=public_only)
    ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
    stages = group.prepare(ctx)
    outputs = run_trusted(work / "box", submission, stages, ctx, launch=launch or start_trusted)
    return group.judge(ctx, outputs)


@pytest.fixture
def submission(tmp_path):
    """`submission(fixture=None, files=None)` -> path of a fresh week-06 folder built in tmp_path."""
    counter = iter(range(1000))

    def make(fixture: str | None = None, files: dict[str, str] | None = None) -> Path:
        return build_submission(tmp_path / f"sub{next(counter)}", fixture, files)

    return make


@pytest.fixture
def run_group(tmp_path):
    """`run_group(group, submission_dir, **kw)` -> list[CheckResult], graded without a sandbox."""
    counter = iter(range(1000))

    def run(group, submission_dir: Path, **kw):
        return run_group_direct(group, submission_dir, tmp_path / f"run{next(counter)}", **kw)

    return run


def by_id(checks) -> dict:
    return {c.id: c for c in checks}


def copy_results(dest: Path, *ids: str) -> Path:
    """The fixture results (only `ids`, when given) copied to `dest`: rendering writes beside them."""
    for folder in REPORT_FIXTURES.iterdir():
        if not ids or folder.name in ids:
            shutil.copytree(folder, dest / folder.name)
    return dest


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture batch rendered once with the defaults, for the tests that only read the pages."""
    from grader.report import render_all

    out = copy_results(tmp_path_factory.mktemp("rendered") / "reports")
    render_all(out)
    return out
