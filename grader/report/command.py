"""`unet-grader report DIR`: merge manual grades, re-render everything, optionally write Gradescope's file."""

from __future__ import annotations

import sys
from pathlib import Path

from .gradebook import write_gradescope
from .labels import Translator
from .load import ReportError, load_batch
from .manual import merge_manual, write_template
from .render import render_all


def main(*, out_dir: Path, lang: str = "both", manual: Path | None = None,
         manual_template: Path | None = None, anonymize: bool = False, handout: Path | None = None,
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
            merged = merge_manual(batch, manual)
            print(f"merged {merged} manual grade(s) from {manual}")
        render_all(out_dir, lang=lang, anonymize=anonymize, handout=handout, salt=salt)
        if gradescope is not None:
            write_gradescope(load_batch(out_dir).entries, gradescope, Translator(lang))
    except ReportError as exc:
        print(f"unet-grader report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out_dir / 'index.html'}, {out_dir / 'grades.csv'} and the per-submission pages")
    return 0
