"""Build the demo submissions in submissions/ from the reference solution, byte for byte reproducibly.

    python scripts/build_demos.py           # (re)write submissions/*.tar.gz and submissions/roster.csv
    python scripts/build_demos.py --check   # exit 1, naming the files that are missing or stale

Each demo is the reference solution (solutions/week-06) with one typical mistake laid over it, by the
same overlay builder as the test fixtures (`tests/conftest.py`): most mistakes ARE test fixtures, the
rest live in scripts/demo_overlays/. The solution's region markers (`# BEGIN SOLUTION Q3`, `<!-- END
SOLUTION -->`) are then dropped and their answers kept, as in a student's hand-in. Archives are packed
as the lab asks (`week-06/` at the top) with fixed member order, times, owners and modes, and a gzip
header without name or time, so a rebuild gives identical bytes (given the same zlib; the tar inside is
identical everywhere). The file names start with a student id, matching submissions/roster.csv, in
which one student handed in nothing.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "submissions"
OVERLAYS = Path(__file__).resolve().parent / "demo_overlays"
MTIME = 1712966400  # 2024-04-13 00:00 UTC
ROSTER = "roster.csv"


@dataclass(frozen=True)
class Demo:
    """One demo archive: its student, the mistake, and the check groups that mistake must fail."""

    student_id: str
    name: str
    slug: str
    what: str
    fixture: str | None = None  # a folder under tests/fixtures/submissions/
    overlay: str | None = None  # a folder under scripts/demo_overlays/
    fails: tuple[str, ...] = ()
    broken: bool = False

    @property
    def archive(self) -> str:
        return f"{self.student_id}_{self.slug}.tar.gz"


# Few enough that the README's first command takes minutes: each submission trains three networks and runs
# its notebook, whatever its mistake. Each mistake fails a different set of groups; the broken archive stays.
DEMOS = [
    Demo("2024001", "张三", "perfect", "the reference solution: full marks on every automatic check"),
    Demo("2024002", "李四", "jaccard_dice", "Q3: Jaccard computed with the Dice formula (the notebook prints it)",
         fixture="jaccard_dice", fails=("jaccard", "notebook")),
    Demo("2024003", "王五", "up_add_concatenates",
         "up_add concatenates the skip map instead of adding it (so UNet_add, built from it, does too)",
         fixture="up_add_concatenates", fails=("up_add", "unet_add")),
    Demo("2024004", "赵六", "notebook_error", "the notebook stops at Q2's loss plot with a NameError",
         overlay="notebook_error", fails=("notebook",)),
    Demo("2024005", "孙七", "broken", "a truncated download: the archive cannot be unpacked (rejected)",
         broken=True),
]
PERFECT = DEMOS[0]
MISSING = [("2024006", "周八")]  # on the roster, handed in nothing


def _overlay(demo: Demo) -> dict[str, str]:
    if demo.overlay is None:
        return {}
    folder = OVERLAYS / demo.overlay
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _unmarked(text: str, syntax) -> str:
    """`text` with each solution region's BEGIN, PROMPT and END lines dropped and its answer kept."""
    from grader.assign.regions import find_regions

    lines = text.split("\n")
    drop = set()
    for region in find_regions(text, syntax):
        drop |= {region.start, region.end, *range(region.start + 1, region.start + 1 + len(region.prompt))}
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def answered(root: Path) -> Path:
    """A hand-in as a student writes it: the kit's TODOs filled with the reference answers, no solution
    markers left (they would show on the student's page, and no student's file has them)."""
    from grader.assign.regions import MARKDOWN, PYTHON

    for path in sorted(root.rglob("*.py")):
        path.write_text(_unmarked(path.read_text(encoding="utf-8"), PYTHON), encoding="utf-8")
    for path in sorted(root.rglob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            syntax = {"code": PYTHON, "markdown": MARKDOWN}.get(cell["cell_type"])
            if syntax is not None:
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = _unmarked(source, syntax).splitlines(keepends=True)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
    return root


def tar(folder: Path) -> bytes:
    """`tar -cvf week-06.tar week-06`, with everything that varies between machines and runs fixed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for path in [folder, *sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix())]:
            info = archive.gettarinfo(str(path), arcname=path.relative_to(folder.parent).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 1000, 1000, "student", ""
            info.mode = 0o755 if info.isdir() else 0o644
            if info.isfile():
                with open(path, "rb") as fh:
                    archive.addfile(info, fh)
            else:
                archive.addfile(info)
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip without a name or time in the header (`-z`)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buffer.getvalue()


def roster_csv() -> bytes:
    students = [(d.student_id, d.name) for d in DEMOS] + MISSING
    rows = ["student_id,name", *(f"{sid},{name}" for sid, name in students)]
    return ("\n".join(rows) + "\n").encode("utf-8")


def build() -> dict[str, bytes]:
    """Every file of submissions/ by name, built in a scratch folder (nothing in the repo is touched)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.conftest import build_submission  # the fixtures' own overlay builder

    files: dict[str, bytes] = {ROSTER: roster_csv()}
    with tempfile.TemporaryDirectory(prefix="unet-grader-demos-") as tmp:
        tars = {d.archive: tar(answered(build_submission(Path(tmp) / d.slug, d.fixture, _overlay(d))))
                for d in DEMOS if not d.broken}
    for demo in DEMOS:
        whole = tars[PERFECT.archive]
        # a download cut off halfway: the archive ends in the middle of a file
        files[demo.archive] = gzip_bytes(whole[: len(whole) // 2] if demo.broken else tars[demo.archive])
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether submissions/ is up to date")
    parser.add_argument("--out", type=Path, default=SUBMISSIONS, help="the folder (default: submissions/)")
    args = parser.parse_args(argv)
    files = build()
    stale = [name for name, data in files.items()
             if not (args.out / name).is_file() or (args.out / name).read_bytes() != data]
    if args.check:
        if stale:
            print(f"stale or missing in {args.out}: {', '.join(stale)}; run `python scripts/build_demos.py`",
                  file=sys.stderr)
            return 1
        print(f"{args.out}: all {len(files)} demo files are up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.out / name).write_bytes(files[name])
    print(f"wrote {len(stale)} of {len(files)} demo files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
