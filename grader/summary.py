"""The table a batch ends with: what was graded, how the scores spread, how the submissions were isolated."""

from __future__ import annotations

import statistics
from collections import Counter

from .console import duration
from .results import SubmissionResult
from .roster import Match

BINS = 10


def _histogram(percents: list[float]) -> list[str]:
    """One line per tenth of the marks, `  70-79%  ####  4`; 100% counts in the top bin."""
    counts = [0] * BINS
    for p in percents:
        counts[min(int(p // (100 / BINS)), BINS - 1)] += 1
    scale = max(1, max(counts) / 40)
    lines = []
    for i, n in enumerate(counts):
        low, high = i * 100 // BINS, (i + 1) * 100 // BINS - 1 if i < BINS - 1 else 100
        lines.append(f"    {low:>3}-{high}%".ljust(14) + f"{'#' * round(n / scale):<40} {n}")
    return lines


def _scores(graded: list[SubmissionResult]) -> list[str]:
    if not graded:
        return ["  scores       -"]
    totals = [r.score for r in graded]
    maxima = sorted({r.max_score for r in graded})
    of = f"of {maxima[0]:g}" if len(maxima) == 1 else f"of {maxima[0]:g}-{maxima[-1]:g}"
    line = (f"  scores       min {min(totals):g}, median {statistics.median(totals):g}, "
            f"mean {statistics.fmean(totals):.1f}, max {max(totals):g} ({of}; graded submissions)")
    percents = [100 * r.score / r.max_score if r.max_score else 0.0 for r in graded]
    return [line, *_histogram(percents)]


def _roster(found: Match) -> list[str]:
    students = found.students
    missing = [s for s in students if not s.submissions]
    several = [s for s in students if len(s.submissions) > 1]
    lines = [f"  roster       {len(students)} students: {len(students) - len(missing)} handed in, "
             f"{len(missing)} missing"]
    if missing:
        lines.append("    missing:   " + ", ".join(f"{s.student_id} {s.name}".strip() for s in missing))
    if several:
        lines.append("    several archives: " + "; ".join(f"{s.student_id}: {', '.join(s.submissions)}"
                                                        for s in several))
    if found.unmatched:
        lines.append(f"    {len(found.unmatched)} archive(s) match no student id: "
                     + ", ".join(s.path.name for s in found.unmatched))
    if found.ambiguous:
        lines.append("    ambiguous: " + "; ".join(f"{s.path.name} ({', '.join(ids)})"
                                                   for s, ids in found.ambiguous))
    return lines


def render(results: list[SubmissionResult], *, kept: int, wall_s: float, report_s: float, seed: int,
           seed_origin: str, found: Match | None, others: list[str]) -> str:
    """The end-of-batch summary: `results` are all of this batch's, `kept` of them from an earlier run;
    `wall_s` is the grading's time, `report_s` the reports'."""
    graded = [r for r in results if r.status == "graded"]
    rejected = len(results) - len(graded)
    timed_out = sum(any(c.status == "timeout" for c in r.checks) for r in results)
    now = len(results) - kept
    per = f" ({duration(wall_s / now)} per submission graded now)" if now else ""
    lines = ["", "Summary / 汇总",
             f"  submissions  {len(results)}: {now} graded now, {kept} kept from an earlier run",
             f"  graded       {len(graded)}",
             f"  rejected     {rejected}",
             f"  timed out    {timed_out} (with a check stopped at its time limit)",
             *_scores(graded)]
    # what the sandbox enforced where student code ran (a rejected archive never ran)
    isolation = Counter(r.environment.isolation for r in graded or results)
    for i, (text, n) in enumerate(isolation.most_common()):
        count = f"  [{n}]" if len(isolation) > 1 else ""
        lines.append(f"  {'isolation' if i == 0 else '':<12} {text}{count}")
    lines += [f"  seed         {seed} ({seed_origin})",
              f"  time         {duration(wall_s)}{per}, then {report_s:.1f} s writing the reports"]
    if found is not None:
        lines += _roster(found)
    if others:
        lines.append(f"  also in the folder, from archives not in this batch: {', '.join(others)}")
    return "\n".join(lines)
