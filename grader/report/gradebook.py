"""The class-wide files: grades.csv for the LMS, checks.csv per check, results.json, Gradescope's results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..late import final_score
from ..results import CheckResult, SubmissionResult
from ..roster import derived_id
from . import csvsafe
from .anonymize import Anonymizer
from .labels import GROUPS, Translator
from .load import Batch, Entry, ReportError
from .model import MISSING, ComparisonView, Listed, batch_max_score, class_list, failing_cases, num, ordered_groups

GRADES_CSV, CHECKS_CSV, RESULTS_JSON = "grades.csv", "checks.csv", "results.json"


def _who(item: Listed, batch: Batch, names: Anonymizer) -> list[str]:
    """The student id (and, with a roster, the name) of a class-list line; empty when anonymized.

    Without a roster the id comes from the archive's or folder's name (`roster.derived_id`).
    """
    if batch.roster is not None:
        student = item.student
        return [student.student_id, student.name] if student and not names.enabled else ["", ""]
    if names.enabled or item.entry is None:
        return [""]
    return [derived_id(item.entry.result.submission.source, item.entry.id)]


def _columns(batch: Batch) -> list[str]:
    return ["id", "student_id", *(["name"] if batch.roster is not None else []), "source", "status"]


def _id_cell(item: Listed, names: Anonymizer) -> str:
    if item.entry is None:
        return names.student(item.student) if names.enabled and item.student else ""
    return names.name(item.entry)


def write_grades_csv(batch: Batch, path: Path, names: Anonymizer) -> None:
    """One row per submission, one column per check group; UTF-8 with a BOM so Excel reads Chinese names.

    A group the submission was not graded on is left empty; a rejected archive has only its total, 0. With a
    roster, the rows follow it, each with the student's id and name, and a student who handed in nothing
    has a row of their own: status `missing`, total 0. After `grade --deadline`, the late columns follow
    (`LATE_COLUMNS`): `total` stays the raw score, `final` is after the late penalty. Every text cell is
    formula-safe (csvsafe).
    """
    entries = batch.entries
    groups = ordered_groups(set(GROUPS) | {c.group for e in entries for c in e.result.checks})
    max_total = num(batch_max_score(batch))
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csvsafe.writer(f)
        late = any(isinstance(e.result.extra.get("late"), dict) for e in entries)
        writer.writerow([*_columns(batch), *groups, "total", "max_score", *(LATE_COLUMNS if late else [])])
        for item in class_list(batch):
            e = item.entry
            who = [_id_cell(item, names), *_who(item, batch, names)]
            if e is None:
                writer.writerow([*who, "", MISSING, *([""] * len(groups)), num(0), max_total,
                                 *([""] * len(LATE_COLUMNS) if late else [])])
                continue
            totals = e.result.group_scores()
            writer.writerow([
                *who, "" if names.enabled else e.result.submission.source,
                e.result.status, *(num(totals[g][0]) if g in totals else "" for g in groups),
                num(e.result.score), num(e.result.max_score), *(late_cells(e.result) if late else []),
            ])


def write_checks_csv(batch: Batch, path: Path, names: Anonymizer) -> None:
    """`checks.csv`: one row per submission (as grades.csv), one column per check id with its points.

    The columns are every check id of the batch, groups in DESIGN.md's order; a check the submission was
    not graded on is left empty. Hand grades are included, as in the totals.
    """
    entries = batch.entries
    rank = {g: i for i, g in enumerate(ordered_groups({c.group for e in entries for c in e.result.checks}))}
    check_ids = sorted(dict.fromkeys(c.id for e in entries for c in e.result.checks),
                       key=lambda cid: rank[cid.split("/", 1)[0]])
    max_total = num(batch_max_score(batch))
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csvsafe.writer(f)
        writer.writerow([*_columns(batch), *check_ids, "total", "max_score"])
        for item in class_list(batch):
            e = item.entry
            who = [_id_cell(item, names), *_who(item, batch, names)]
            if e is None:
                writer.writerow([*who, "", MISSING, *([""] * len(check_ids)), num(0), max_total])
                continue
            points = {c.id: num(c.score) for c in e.result.checks}
            writer.writerow([*who, "" if names.enabled else e.result.submission.source, e.result.status,
                             *(points.get(cid, "") for cid in check_ids), num(e.result.score),
                             num(e.result.max_score)])


def write_class_files(batch: Batch, folder: Path, names: Anonymizer) -> None:
    """grades.csv, checks.csv and results.json in `folder`."""
    write_grades_csv(batch, folder / GRADES_CSV, names)
    write_checks_csv(batch, folder / CHECKS_CSV, names)
    write_results_json(batch.entries, folder / RESULTS_JSON, names)


LATE_COLUMNS = ["submitted_at", "time_source", "days_late", "late_penalty", "final"]


def late_cells(result: SubmissionResult) -> list[str]:
    """The late-work columns (`grade --deadline`, see grader/late.py): empty when no deadline was applied."""
    late = result.extra.get("late")
    if not isinstance(late, dict):
        return ["", "", "", "", num(result.score)]
    return [str(late.get("submitted_at", "")), str(late.get("source", "")), num(late.get("days_late")),
            num(late.get("penalty")), num(final_score(result))]


def write_results_json(entries: list[Entry], path: Path, names: Anonymizer) -> None:
    """Every result.json in one list; anonymized, the ids and file names are replaced everywhere."""
    items = []
    for e in entries:
        data = e.result.to_dict()
        if names.enabled:
            data["submission"] = {"id": names.name(e), "source": "", "sha256": None}
        items.append(names.scrub(data))
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")


def gradescope_results(result: SubmissionResult, t: Translator) -> dict[str, Any]:
    """The result in Gradescope's autograder format (the `results.json` its harness reads)."""
    summary = f"{t('score')}: {num(result.score)} / {num(result.max_score)}"
    if result.error:
        summary += f"\n{t('rejected_reason')}: {result.error}"
    data: dict[str, Any] = {
        "score": result.score,
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{
            "name": c.id,
            "score": c.score,
            "max_score": c.max_score,
            "status": "passed" if c.status == "passed" else "failed",
            "output": _test_output(c, t),
            "visibility": "visible",
        } for c in result.checks],
    }
    total = result.timings.get("total")
    if isinstance(total, (int, float)):
        data["execution_time"] = int(round(total))
    return data


def write_gradescope(entries: list[Entry], path: Path, t: Translator) -> None:
    """Gradescope grades one submission per run, so the results folder must hold exactly one."""
    if len(entries) != 1:
        raise ReportError(f"--gradescope needs exactly one submission in the results folder, "
                          f"found {len(entries)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(entries[0].result, t), ensure_ascii=False, indent=2),
                    encoding="utf-8")


def _test_output(check: CheckResult, t: Translator) -> str:
    lines = [f"[{t.status(check.status)}] {t.message(check.messages, check.message)}"]
    comparisons, matched = failing_cases(check, t)
    if matched:
        lines.append(f"{t('cases_matched')}: {matched}")
    for case in comparisons:
        if case.name:
            lines.append(f"{t('case')} {case.name}: {' '.join(case.message)}")
        lines.extend(f"  {key}: {value}" for key, value in case.facts)
        if case.comparison:
            lines.extend(_comparison_text(case.comparison, t))
    return "\n".join(lines)


def _comparison_text(view: ComparisonView, t: Translator) -> list[str]:
    lines = [f"{t('expected')} {view.expected_shape}, {t('received')} {view.received_shape or '-'}"]
    for key in ("max_abs_diff", "first_diff_index", "mismatches"):
        if getattr(view, key):
            lines.append(f"{t(key)}: {getattr(view, key)}")
    for key, slices in (("expected", view.expected), ("received", view.received)):
        if slices:
            lines.append(f"{t(key)}:")
            for piece in slices:
                if piece.label:
                    lines.append(f"  {piece.label}")
                lines.extend("  " + " ".join(c.text.rjust(8) for c in row) for row in piece.rows)
    return lines
