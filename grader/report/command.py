"""`unet-grader report DIR`: store manual grades, re-render the TA's files, publish variants, Gradescope's file."""

from __future__ import annotations

import sys
from pathlib import Path

from .gradebook import write_gradescope
from .handgrades import STORE_FILE
from .labels import Translator
from .load import ReportError, load_batch
from .manual import merge_manual, write_template
from .publish import publish
from .render import render_all


def main(*, out_dir: Path, lang: str = "both", manual: Path | None = None,
         manual_template: Path | None = None, grader: str | None = None, anonymize: bool = False,
         handout: bool = False, handout_dir: Path | None = None, publish_dir: Path | None = None,
         gradescope: Path | None = None, salt: str = "") -> int:
    """0 when everything was written; 2 for a usage error (no such folder, no result in it, a bad manual CSV),
    with why."""
    try:
        batch = load_batch(out_dir)
        if not batch.entries:
            unreadable = f" ({len(batch.unreadable)} unreadable)" if batch.unreadable else ""
            raise ReportError(f"no results in {out_dir}{unreadable}: it should hold one folder per submission "
                              f"with a result.json, as `unet-grader grade PATH --out {out_dir}` writes")
        if manual_template is not None:
            rows = write_template(batch.entries, manual_template)
            print(f"wrote {manual_template}: {rows} answer(s) to grade; fill in 'score' and 'comment', "
                  f"then run `unet-grader report {out_dir} --manual {manual_template}`")
            return 0
        if manual is not None:
            graded, changed = merge_manual(out_dir, manual, grader=grader)
            print(f"merged {graded} manual grade(s) from {manual} ({changed} new or changed), kept in "
                  f"{out_dir / STORE_FILE}")
        batch = render_all(out_dir, lang=lang)
        for grade in batch.manual_unused:
            print(f"note: the hand grade of {grade.submission_id} {grade.check_id} is kept but not shown: "
                  "its result has no such check now", file=sys.stderr)
        print(f"wrote {out_dir / 'index.html'}, {out_dir / 'grades.csv'}, {out_dir / 'checks.csv'} and the "
              "per-submission pages")
        if anonymize or handout:
            done = publish(out_dir, lang=lang, anonymize=anonymize, handout=handout, handout_dir=handout_dir,
                           dest=publish_dir, salt=salt)
            for folder in done.written:
                print(f"published {folder}/")
            if done.key is not None:
                print(f"wrote {done.key}: the key from pseudonym to student, for the instructor only "
                      "(never publish it)")
        if gradescope is not None:
            write_gradescope(load_batch(out_dir).entries, gradescope, Translator(lang))
    except ReportError as exc:
        print(f"unet-grader report: {exc}", file=sys.stderr)
        return 2
    return 0
