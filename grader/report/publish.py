"""Publishing variants, each in a folder of its own: never over the TA's index.html, grades.csv or results.json.

- anonymized: `PUB/anonymized/` holds index.html, grades.csv, checks.csv and results.json with every
  student named by pseudonym; the key from pseudonym to student goes to `DIR/anonymize-key.csv`, in the
  TA's folder and never in the published one.
- handout: `PUB/handout/<id>/report.html` (or a folder given), one self-contained folder per student.

PUB is `DIR/_published/` unless another folder is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..roster import derived_id
from . import csvsafe
from .anonymize import Anonymizer
from .gradebook import write_class_files
from .labels import Translator
from .load import Batch, ReportError, load_batch
from .model import class_list
from .render import Renderer, hand_out, student_pages, write

PUBLISHED_DIR = "_published"
KEY_FILE = "anonymize-key.csv"
KEY_COLUMNS = ("pseudonym", "submission_id", "student_id", "name", "source")


@dataclass
class Published:
    """Where the variants went, to tell the person who asked for them."""

    written: list[Path] = field(default_factory=list)
    key: Path | None = None


def _checked(out_dir: Path, folder: Path) -> Path:
    """`folder`, unless writing there could replace the TA's files (DIR itself, a submission's folder,
    or a folder holding DIR)."""
    target, base = folder.resolve(), out_dir.resolve()
    inside_submission = target.is_relative_to(base) and target != base and \
        (base / target.relative_to(base).parts[0] / "result.json").exists()
    if target == base or base.is_relative_to(target) or inside_submission:
        raise ReportError(f"{folder}: publishing there would replace the TA's own files in {out_dir}; "
                          f"choose a folder of its own (default {out_dir / PUBLISHED_DIR})")
    return folder


def write_key(batch: Batch, names: Anonymizer, path: Path) -> None:
    """pseudonym -> submission id, student id, name and file name, for the instructor only."""
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csvsafe.writer(f)
        writer.writerow(KEY_COLUMNS)
        for item in class_list(batch):
            e, student = item.entry, item.student
            if e is None:
                writer.writerow([names.student(student), "", student.student_id, student.name, ""])
                continue
            source = e.result.submission.source
            student_id = student.student_id if student else derived_id(source, e.id)
            writer.writerow([names.pseudonym(e), e.id, student_id, student.name if student else "", source])


def publish(out_dir: Path, *, lang: str = "both", anonymize: bool = False, handout: bool = False,
            handout_dir: Path | None = None, dest: Path | None = None, salt: str = "") -> Published:
    """Write the variants asked for: `anonymize` to DEST/anonymized/, `handout` to `handout_dir` (default
    DEST/handout/), with pseudonyms on the handed-out pages when anonymizing too. DEST: DIR/_published."""
    dest = dest if dest is not None else out_dir / PUBLISHED_DIR
    batch = load_batch(out_dir)
    names = Anonymizer(batch.entries, enabled=anonymize, salt=salt, roster=batch.roster)
    renderer = Renderer(Translator(lang))
    done = Published()
    if anonymize:
        folder = _checked(out_dir, dest / "anonymized")
        folder.mkdir(parents=True, exist_ok=True)
        # The similarity page names students: the published dashboard does not link it.
        write(folder / "index.html", renderer.dashboard(batch, names, similarity=False))
        write_class_files(batch, folder, names)
        done.key = out_dir / KEY_FILE
        write_key(batch, names, done.key)
        done.written.append(folder)
    if handout:
        folder = _checked(out_dir, handout_dir if handout_dir is not None else dest / "handout")
        for entry, page, html in student_pages(batch, renderer, names):
            hand_out(entry, page, html, folder)
        done.written.append(folder)
    return done
