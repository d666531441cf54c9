"""`unet-grader similarity DIR`: pairs of submissions in a graded batch that a TA should compare by hand.

Reads what `grade` kept of each submission (`DIR/<id>/artifacts/submission/`), writes
`DIR/similarity.html` and `DIR/similarity.csv`. A listed pair is a reason to look, never a verdict.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .compare import Findings, Pair, Settings, compare, findings
from .extract import load_batch, load_kit
from .render import set_aside_text, write

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KIT = REPO_ROOT / "assignment" / "week-06"
DEFAULT_SOLUTION = REPO_ROOT / "solutions" / "week-06"

__all__ = ["Findings", "Pair", "Settings", "analyse", "analyse_all", "main"]


def analyse(out_dir: Path, *, kit: Path = DEFAULT_KIT, solution: Path = DEFAULT_SOLUTION,
            settings: Settings | None = None) -> list[Pair]:
    """The pairs worth a look in the graded batch `out_dir`, strongest first."""
    settings = settings or Settings()
    return compare(load_batch(out_dir, settings.output_min_digits),
                   load_kit(kit, [solution], settings.output_min_digits), settings)


def analyse_all(out_dir: Path, *, kit: Path = DEFAULT_KIT, solution: Path = DEFAULT_SOLUTION,
                settings: Settings | None = None) -> Findings:
    """The pairs, the clusters of identical or near-identical own code, and the common code set aside."""
    settings = settings or Settings()
    return findings(load_batch(out_dir, settings.output_min_digits),
                    load_kit(kit, [solution], settings.output_min_digits), settings)


def main(*, out_dir: Path, kit: Path | None = None, solution: Path | None = None,
         settings: Settings | None = None, echo: Callable[[str], object] = print) -> int:
    """Write the similarity report of `out_dir`; 0 when written, 2 when there is no such results folder."""
    if not out_dir.is_dir():
        print(f"unet-grader: no results folder {out_dir}", file=sys.stderr)
        return 2
    settings = settings or Settings()
    kit = kit or DEFAULT_KIT
    subs = load_batch(out_dir, settings.output_min_digits)
    loaded_kit = load_kit(kit, [solution or DEFAULT_SOLUTION], settings.output_min_digits)
    if not loaded_kit.found:
        echo(f"warning: no student kit at {kit} (pass --kit): the code it gives out is only discounted where "
             f"more than {settings.common_fraction:.0%} of the batch shares it")
    found = findings(subs, loaded_kit, settings)
    html, csv = write(out_dir, found, subs=subs, kit=loaded_kit, kit_path=kit, settings=settings)
    clusters = f", {len(found.clusters)} cluster(s) of identical or near-identical code" if found.clusters else ""
    echo(f"{len(subs)} submission(s) compared, {len(found.pairs)} pair(s) worth a look{clusters}; "
         f"{set_aside_text(found.set_aside).en}: {html} , {csv}")
    return 0
