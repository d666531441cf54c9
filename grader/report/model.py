"""What the templates show, computed from the results alone: one view per page, plain values only."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
from markupsafe import Markup

from ..late import final_score
from ..messages import text
from ..results import CheckResult, SubmissionResult
from . import plots
from .anonymize import Anonymizer
from .labels import GROUPS, Translator
from .load import Batch, Entry, RosterStudent, data_uri

MANUAL_GROUP = "answers"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
# The tolerances of grader/checks/compare.py's `compare`, used to mark differing cells unless the
# comparison records its own `rtol` / `atol`.
RTOL = 1e-4
ATOL = 1e-5
# details keys the page renders itself; the rest are shown as JSON for the TA.
SHOWN_KEYS = {"comparison", "cases", "loss", "dice", "threshold", "dice_per_image", "artifacts", "cells_run",
              "cells_total", "failing_cell", "question", "answer", "override", "automatic"}
# keys of a `details["cases"]` item shown in their own place; the others are listed as the case's facts.
CASE_KEYS = {"name", "ok", "why", "message", "messages", "comparison"}
# artifacts (details["artifacts"] keys) with a translated caption; others are captioned by their key.
ARTIFACT_NAMES = {"sample", "loss_plot", "executed_notebook"}
MAX_EXTRA_JSON = 20_000
# a log longer than this shows its end (where the error usually is)
MAX_LOG_CHARS = 100_000
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def num(value: Any) -> str:
    """A score or measurement for people: 5 not 5.0, six significant digits at most."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return f"{value:.6g}"


def plain(text: Any) -> str:
    """Captured output without terminal colour codes."""
    if isinstance(text, list):
        text = "\n".join(str(t) for t in text)
    return ANSI.sub("", str(text or ""))


def _tail(text: str) -> str:
    return text if len(text) <= MAX_LOG_CHARS else "…\n" + text[-MAX_LOG_CHARS:]


# ---- what the pages must not hide: grading problems and hand grading -----------------------------------

# A check that did not get a fair run: the student's code was stopped, or the grader itself failed.
PROBLEM_STATUSES = ("timeout", "error")
GRADER_CHECK = "grader"
GRADER_ERROR = "internal grader error"
# The statuses a page shows, in order: written answers are "graded" or "ungraded" rather than pass or fail.
SHOWN_STATUSES = ("passed", "failed", "error", "timeout", "skipped", "graded", "ungraded")


def is_problem(check: CheckResult) -> bool:
    """Whether the check says more about the grading than about the student (regrade it)."""
    english = check.messages.get("en") or check.message
    return check.status in PROBLEM_STATUSES or check.group == GRADER_CHECK or GRADER_ERROR in english


def is_hand_graded(check: CheckResult) -> bool:
    """A written answer a TA has graded (their grade is merged as an override)."""
    return check.group == MANUAL_GROUP and isinstance(check.details.get("override"), dict)


def shown_status(check: CheckResult) -> str:
    """The status a page shows: a written answer is "graded" or "ungraded", whatever points it got."""
    if check.group != MANUAL_GROUP:
        return check.status
    return "graded" if is_hand_graded(check) else "ungraded"


def awaiting_points(result: SubmissionResult) -> float:
    """The points of the written answers no TA has graded yet (they count 0 until then)."""
    return round(sum(c.max_score for c in result.checks if c.group == MANUAL_GROUP and not is_hand_graded(c)), 4)


def score_note(result: SubmissionResult, t: Translator) -> str:
    """`automatic 80 / 80, graded by hand 5 / 7, awaiting hand grading 13`: where the total comes from."""
    if result.status != "graded":
        return ""
    auto = [c for c in result.checks if c.group != MANUAL_GROUP]
    hand = [c for c in result.checks if is_hand_graded(c)]
    zh = [f"自动评分 {num(sum(c.score for c in auto))} / {num(sum(c.max_score for c in auto))}"]
    en = [f"automatic {num(sum(c.score for c in auto))} / {num(sum(c.max_score for c in auto))}"]
    if hand:
        got, of = num(sum(c.score for c in hand)), num(sum(c.max_score for c in hand))
        zh.append(f"人工评分 {got} / {of}")
        en.append(f"graded by hand {got} / {of}")
    if awaiting := awaiting_points(result):
        zh.append(f"待人工评分 {num(awaiting)} 分")
        en.append(f"awaiting hand grading {num(awaiting)}")
    return text("，".join(zh), ", ".join(en)).pick(t.lang)


def problem_checks(result: SubmissionResult) -> list[CheckResult]:
    """The submission's checks that timed out, errored or failed in the grader."""
    return [c for c in result.checks if is_problem(c)]


def failure_note(failures: int, timeouts: int, t: Translator) -> str:
    """`4 of 6 failures are timeouts`, so that a check stopped at its time limit does not read as wrong work."""
    if not timeouts:
        return ""
    verb = "is a timeout" if timeouts == 1 else "are timeouts"
    return text(f"{failures} 次未通过中有 {timeouts} 次是超时",
                f"{timeouts} of {failures} failures {verb}").pick(t.lang)


# ---- numeric comparisons -------------------------------------------------------------------------------

@dataclass
class Cell:
    text: str
    bad: bool = False
    first: bool = False


@dataclass
class Slice:
    """One 2-D slice of a small array; `label` names the leading indices for 3-D and up."""

    label: str
    rows: list[list[Cell]]


@dataclass
class ComparisonView:
    expected_shape: str
    received_shape: str
    shapes_differ: bool
    max_abs_diff: str
    first_diff_index: str
    mismatches: str
    expected: list[Slice]
    received: list[Slice]


def _array(values: Any) -> np.ndarray | None:
    """A small array stored as nested lists, or None when absent or ragged."""
    if values is None:
        return None
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _slices(arr: np.ndarray, bad: np.ndarray, first: np.ndarray) -> list[Slice]:
    """The array as 2-D tables; 0-D and 1-D arrays become one row, 3-D and up one table per leading index."""
    if arr.ndim < 2:
        arr, bad, first = (a.reshape(1, -1) for a in (arr, bad, first))
    lead = arr.shape[:-2]
    out = []
    for index in np.ndindex(*lead):
        rows = [[Cell(num(float(arr[(*index, r, c)])), bool(bad[(*index, r, c)]), bool(first[(*index, r, c)]))
                 for c in range(arr.shape[-1])] for r in range(arr.shape[-2])]
        label = "[" + ", ".join([*map(str, index), ":", ":"]) + "]" if lead else ""
        out.append(Slice(label, rows))
    return out


def _differing(expected: np.ndarray | None, received: np.ndarray | None, rtol: float, atol: float
               ) -> np.ndarray | None:
    """Which cells differ, judged as compare() does (relative to the expected value); None if not aligned."""
    if expected is None or received is None or expected.shape != received.shape:
        return None
    with np.errstate(invalid="ignore"):
        return ~(np.isclose(received, expected, rtol=rtol, atol=atol) & np.isfinite(received))


def _first_mark(shape: tuple[int, ...], first: Any) -> np.ndarray:
    mark = np.zeros(shape, dtype=bool)
    if isinstance(first, list) and len(first) == len(shape) and all(
            isinstance(i, int) and 0 <= i < n for i, n in zip(first, shape, strict=True)):
        mark[tuple(first)] = True
    return mark


def comparison_view(comp: dict[str, Any]) -> ComparisonView:
    """compare.py's `details["comparison"]` as side-by-side tables, or a summary for large arrays."""
    expected, received = _array(comp.get("expected")), _array(comp.get("received"))
    e_shape, r_shape = comp.get("expected_shape"), comp.get("received_shape")
    first = comp.get("first_diff_index")
    rtol, atol = _number(comp.get("rtol")), _number(comp.get("atol"))
    bad = _differing(expected, received, RTOL if rtol is None else rtol, ATOL if atol is None else atol)
    tables = {}
    for key, arr in (("expected", expected), ("received", received)):
        if arr is None:
            tables[key] = []
        else:
            marks = bad if bad is not None else np.zeros(arr.shape, dtype=bool)
            tables[key] = _slices(arr, marks, _first_mark(arr.shape, first))
    return ComparisonView(
        expected_shape=_shape(e_shape),
        received_shape=_shape(r_shape),
        shapes_differ=e_shape != r_shape,
        max_abs_diff=num(comp.get("max_abs_diff")),
        first_diff_index=_shape(first) if isinstance(first, list) else "",
        mismatches=num(comp.get("mismatches")),
        expected=tables["expected"],
        received=tables["received"],
    )


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if isinstance(shape, list) else ""


# ---- checks --------------------------------------------------------------------------------------------

@dataclass
class CaseView:
    """A failing case (or the check's own comparison, with no name): why, its inputs, expected vs received."""

    name: str
    message: list[str]
    facts: list[tuple[str, str]]
    comparison: ComparisonView | None


@dataclass
class ArtifactView:
    label: str
    href: str
    image: str | None


@dataclass
class TrainingView:
    figure: Markup
    dice: str
    threshold: str
    passed: bool
    steps: int
    final_loss: str


@dataclass
class FailingCell:
    index: str
    source: str
    error: str
    traceback: str


@dataclass
class NotebookView:
    cells_run: str
    cells_total: str
    failing_cell: FailingCell | None


@dataclass
class AnswerView:
    question: str
    answer: str


@dataclass
class OverrideView:
    score: str
    previous_score: str
    previous_status: str
    previous_message: list[str]
    reason: str


@dataclass
class CheckView:
    id: str
    anchor: str
    status: str
    status_label: str
    score: str
    max_score: str
    message: list[str]
    comparisons: list[CaseView]
    cases_matched: str
    training: TrainingView | None
    notebook: NotebookView | None
    answer: AnswerView | None
    override: OverrideView | None
    artifacts: list[ArtifactView]
    extra_json: str


def _anchor(check_id: str) -> str:
    return "check-" + re.sub(r"[^A-Za-z0-9_-]", "-", check_id)


def _case_failed(case: dict[str, Any]) -> bool:
    if isinstance(case.get("ok"), bool):
        return not case["ok"]
    comp = case.get("comparison")
    return isinstance(comp, dict) and not comp.get("match")


def _fact(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return _shape(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return num(value)


def _facts(case: dict[str, Any]) -> list[tuple[str, str]]:
    """A case's other details (e.g. the shapes and dtypes of its inputs), flattened one level."""
    facts = []
    for key, value in case.items():
        if key in CASE_KEYS:
            continue
        items = value.items() if isinstance(value, dict) else [(key, value)]
        facts.extend((str(k), _fact(v)) for k, v in items)
    return facts


def failing_cases(check: CheckResult, t: Translator) -> tuple[list[CaseView], str]:
    """The check's own failing comparison, then its failing cases; and 'k / n' cases that passed."""
    details = check.details
    views: list[CaseView] = []
    comp = details.get("comparison")
    if isinstance(comp, dict) and (check.status != "passed" or not comp.get("match")):
        views.append(CaseView("", [], [], comparison_view(comp)))
    cases = [c for c in details.get("cases") or [] if isinstance(c, dict)]
    for case in cases:
        if _case_failed(case):
            fallback = str(case.get("why") or case.get("message") or "")
            message = [m for m in t.message_lines(case.get("messages") or {}, fallback) if m]
            comp = case.get("comparison")
            views.append(CaseView(str(case.get("name", "")), message, _facts(case),
                                  comparison_view(comp) if isinstance(comp, dict) else None))
    passed = sum(not _case_failed(c) for c in cases)
    return views, f"{passed} / {len(cases)}" if cases else ""


def _floats(values: Any) -> list[float]:
    if not isinstance(values, list):
        return []
    return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan for v in values]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _training(check: CheckResult) -> TrainingView | None:
    details = check.details
    if "loss" not in details and "dice" not in details:
        return None
    loss = _floats(details.get("loss"))
    dice, threshold = _number(details.get("dice")), _number(details.get("threshold"))
    per_image = _floats(details.get("dice_per_image"))
    figure = plots.training_figure(loss, dice, threshold, per_image, salt=check.id)
    return TrainingView(figure=figure, dice=num(dice), threshold=num(threshold),
                        passed=dice is not None and threshold is not None and dice >= threshold,
                        steps=len(loss), final_loss=num(loss[-1]) if loss else "")


def _notebook(check: CheckResult) -> NotebookView | None:
    details = check.details
    if not {"cells_run", "cells_total", "failing_cell"} & details.keys():
        return None
    cell = details.get("failing_cell")
    failing = None
    if isinstance(cell, dict):
        error = ": ".join(str(cell[k]) for k in ("error_name", "error_value") if cell.get(k))
        failing = FailingCell(index=num(cell.get("index")), source=plain(cell.get("source")),
                              error=plain(error), traceback=plain(cell.get("traceback")))
    return NotebookView(cells_run=num(details.get("cells_run")), cells_total=num(details.get("cells_total")),
                        failing_cell=failing)


def _override(check: CheckResult, t: Translator) -> OverrideView | None:
    override, automatic = check.details.get("override"), check.details.get("automatic")
    if not isinstance(override, dict):
        return None
    automatic = automatic if isinstance(automatic, dict) else {}
    # What the automatic check said matters for an override, not for an answer that awaited a TA anyway.
    previous = [] if check.group == MANUAL_GROUP else t.message_lines(automatic.get("messages") or {},
                                                                        str(automatic.get("message", "")))
    return OverrideView(score=num(check.score), previous_score=num(override.get("previous_score")),
                        previous_status=t.status(str(automatic.get("status", ""))),
                        previous_message=[m for m in previous if m], reason=str(override.get("reason") or ""))


def _artifacts(entry: Entry, check: CheckResult, t: Translator) -> list[ArtifactView]:
    found = check.details.get("artifacts")
    views = []
    for key, relative in (found.items() if isinstance(found, dict) else []):
        path = entry.artifact(relative)
        if path is None:
            continue
        label = t(f"artifact_{key}") if key in ARTIFACT_NAMES else str(key)
        views.append(ArtifactView(label=label, href=quote(str(relative)), image=data_uri(path)))
    return views


def _extra_json(details: dict[str, Any]) -> str:
    extra = {k: v for k, v in details.items() if k not in SHOWN_KEYS}
    if not extra:
        return ""
    text = json.dumps(extra, ensure_ascii=False, indent=2, default=str)
    return text if len(text) <= MAX_EXTRA_JSON else text[:MAX_EXTRA_JSON] + "\n…"


def check_view(entry: Entry, check: CheckResult, t: Translator) -> CheckView:
    details = check.details
    comparisons, cases_matched = failing_cases(check, t)
    answer = None
    if "answer" in details or "question" in details:
        answer = AnswerView(question=str(details.get("question") or ""),
                            answer=str(details.get("answer") or ""))
    status = shown_status(check)
    return CheckView(
        id=check.id, anchor=_anchor(check.id), status=status, status_label=t.status(status),
        score=num(check.score), max_score=num(check.max_score),
        message=t.message_lines(check.messages, check.message),
        comparisons=comparisons, cases_matched=cases_matched,
        training=_training(check), notebook=_notebook(check), answer=answer,
        override=_override(check, t), artifacts=_artifacts(entry, check, t), extra_json=_extra_json(details),
    )


# ---- the student page ----------------------------------------------------------------------------------

@dataclass
class GroupView:
    name: str
    anchor: str
    score: str
    max_score: str
    percent: float
    statuses: list[tuple[str, str, int]]
    checks: list[CheckView]


@dataclass
class StudentPage:
    id: str
    pseudonym: str
    source: str
    sha256: str
    status: str
    status_label: str
    error: str
    score: str
    max_score: str
    percent: float
    score_note: str
    repack: list[str]
    groups: list[GroupView]
    environment: list[tuple[str, str]]
    timings: list[tuple[str, str]]
    logs: list[tuple[str, str]]
    late: LateView | None = None


@dataclass
class LateView:
    """The late-work box of a student page (`grade --deadline`): how late, the penalty, and whence the time."""

    late: bool
    summary: str
    times: str
    source: str


def late_view(result: SubmissionResult, t: Translator) -> LateView | None:
    """What `extra.late` says, for people; None when no deadline was applied or nothing could be graded."""
    late = result.extra.get("late")
    if not isinstance(late, dict) or result.status != "graded":
        return None
    days, off = late.get("days_late") or 0, num(late.get("penalty"))
    final = f"{num(final_score(result))} / {num(result.max_score)}"
    if days:
        summary = text(f"迟交 {days} 天（不足一天按一天计）：扣 {off} 分，最终得分 {final}",
                       f"{days} day(s) late (a part of a day counts as a day): {off} points off, final score {final}")
    elif late.get("minutes_late"):
        summary = text("在宽限期内提交，不扣分", "handed in within the grace period: no penalty")
    else:
        summary = text("按时提交", "handed in on time")
    at, due = late.get("submitted_at", ""), late.get("deadline", "")
    times = text(f"提交时间 {at}，截止时间 {due}", f"submitted {at}, deadline {due}")
    name, listing = late.get("source_file", ""), late.get("times_file") or ""
    if late.get("source") == "times":
        source = text(f"提交时间来自 {listing}", f"submission time from {listing}")
    else:
        source = text(f"提交时间取自文件 {name} 的修改时间（即 LMS 下载所记录的时间）",
                      f"submission time from the modification time of {name}, as the LMS download set it")
        if late.get("fallback"):
            source = text(f"{listing} 中没有这份提交；{source.zh}", f"not listed in {listing}; {source.en}")
    return LateView(late=bool(days), summary=summary.pick(t.lang), times=times.pick(t.lang),
                    source=source.pick(t.lang))


def ordered_groups(groups: set[str] | list[str]) -> list[str]:
    """The known groups in DESIGN.md's order, then any others alphabetically."""
    return [g for g in GROUPS if g in groups] + sorted(g for g in groups if g not in GROUPS)


def _percent(score: float, max_score: float) -> float:
    return round(100 * score / max_score, 1) if max_score else 0.0


def student_page(entry: Entry, t: Translator, names: Anonymizer) -> StudentPage:
    result = entry.result
    by_group: dict[str, list[CheckResult]] = defaultdict(list)
    # A rejected archive ran nothing: its checks would only repeat the one reason, stated once above them.
    for check in result.checks if result.status == "graded" else []:
        by_group[check.group].append(check)
    totals = result.group_scores()
    groups = []
    for key in ordered_groups(list(by_group)):
        score, max_score = totals[key]
        counts = Counter(shown_status(c) for c in by_group[key])
        groups.append(GroupView(
            name=t.group(key), anchor=f"group-{key}", score=num(score), max_score=num(max_score),
            percent=_percent(score, max_score),
            statuses=[(s, t.status(s), counts[s]) for s in SHOWN_STATUSES if counts[s]],
            checks=[check_view(entry, c, t) for c in by_group[key]],
        ))
    env = result.environment
    environment = [(t("grader_version"), env.grader_version), (t("device"), env.device),
                   (t("profile"), env.profile), (t("isolation"), env.isolation), (t("seed"), str(env.seed))]
    return StudentPage(
        id=entry.id, pseudonym=names.pseudonym(entry) if names.enabled else "",
        source=result.submission.source, sha256=result.submission.sha256 or "",
        status=result.status, status_label=t.status(result.status), error=result.error or "",
        score=num(result.score), max_score=num(result.max_score),
        percent=_percent(result.score, result.max_score), score_note=score_note(result, t),
        repack=t.lines("repack") if result.status == "rejected" else [], groups=groups, environment=environment,
        timings=[(k, num(v)) for k, v in result.timings.items()],
        logs=[(k, _tail(plain(v))) for k, v in result.logs.items()],
        late=late_view(result, t),
    )


# ---- the class list ------------------------------------------------------------------------------------

MISSING = "missing"


@dataclass
class Listed:
    """One line of the class list: a submission and its student (None when the roster names no one), or a
    roster student with no submission (`entry` None)."""

    entry: Entry | None
    student: RosterStudent | None


def class_list(batch: Batch) -> list[Listed]:
    """The submissions in folder order; with a roster, its students in roster order (each submission, or one
    line when they have none), then the submissions that belong to no one."""
    if batch.roster is None:
        return [Listed(e, None) for e in batch.entries]
    by_id = {e.id: e for e in batch.entries}
    listed: list[Listed] = []
    owned: set[str] = set()
    for student in batch.roster.students:
        found = [by_id[sid] for sid in student.submissions if sid in by_id]
        if found:
            listed.extend(Listed(e, student) for e in found)
            owned.update(e.id for e in found)
        else:
            listed.append(Listed(None, student))
    return listed + [Listed(e, None) for e in batch.entries if e.id not in owned]


def batch_max_score(batch: Batch) -> float:
    """The most a graded submission could score: what a missing student scored nothing out of."""
    return max((e.result.max_score for e in batch.entries if e.result.status == "graded"), default=0.0)


# ---- the class dashboard -------------------------------------------------------------------------------

@dataclass
class Row:
    name: str
    href: str
    source: str
    student_id: str
    student_name: str
    flag: str
    flag_label: str
    flag_ids: str
    status: str
    status_label: str
    groups: list[tuple[str, float | str]]
    total: str
    total_value: float
    max_score: str
    time: str
    time_value: float | str
    awaiting: str = ""  # points of written answers not graded yet
    score_note: str = ""


@dataclass
class PassRate:
    check_id: str
    passed: int
    present: int
    percent: float
    note: str = ""  # "4 of 6 failures are timeouts", or that a written answer's count is of those graded
    mostly_timeouts: bool = False


@dataclass
class Problem:
    """A submission with checks that did not get a fair run (timeout, error, grader failure): regrade it."""

    name: str
    href: str
    checks: list[tuple[str, str, str, str]]  # (check id, status, status label, link to its card)


@dataclass
class Count:
    label: str
    value: int
    href: str = ""  # the section that lists them


@dataclass
class Failure:
    check_id: str
    message: str
    students: int


@dataclass
class Dashboard:
    groups: list[tuple[str, str]]
    rows: list[Row]
    rejected: list[tuple[str, str]]
    unreadable: list[tuple[str, str]]
    histogram: Markup | None
    pass_rates: list[PassRate]
    failures: list[Failure]
    slowest: list[tuple[str, str, str]]
    counts: list[Count]
    problems: list[Problem]
    times: list[tuple[str, str]]
    environment: list[tuple[str, list[tuple[str, int]]]]
    similarity: bool
    roster: bool = False
    anonymized: bool = False
    max_score: str = ""


def _total_time(entry: Entry) -> float | None:
    return _number(entry.result.timings.get("total"))


def _row(item: Listed, group_keys: list[str], batch: Batch, t: Translator, names: Anonymizer,
         href: Callable[[Entry], str], max_total: float) -> Row:
    """A submission's row (with its student, or flagged as nobody's when there is a roster), or a roster
    student's row that says they handed in nothing."""
    student, e = item.student, item.entry
    shown = student is not None and not names.enabled
    student_id, student_name = (student.student_id, student.name) if shown else ("", "")
    if e is None:
        return Row(name=names.student(student) if names.enabled else "", href="", source="",
                   student_id=student_id, student_name=student_name, flag="", flag_label="", flag_ids="",
                   status=MISSING, status_label=t.status(MISSING), groups=[("", "")] * len(group_keys),
                   total=num(0), total_value=0.0, max_score=num(max_total), time="", time_value="")
    flag, flag_ids = "", ""
    if batch.roster is not None and student is None:
        several = batch.roster.ambiguous.get(e.id)
        flag = "ambiguous" if several else "unmatched"
        flag_ids = ", ".join(several) if several and not names.enabled else ""
    totals = e.result.group_scores()
    seconds = _total_time(e)
    return Row(
        name=names.name(e), href=href(e), source="" if names.enabled else e.result.submission.source,
        student_id=student_id, student_name=student_name, flag=flag, flag_label=t(flag) if flag else "",
        flag_ids=flag_ids,
        status=e.result.status, status_label=t.status(e.result.status),
        groups=[(num(totals[g][0]), totals[g][0]) if g in totals else ("", "") for g in group_keys],
        total=num(e.result.score), total_value=e.result.score, max_score=num(e.result.max_score),
        time="" if seconds is None else num(round(seconds, 1)),
        time_value="" if seconds is None else seconds,
        awaiting=num(awaiting_points(e.result)) if awaiting_points(e.result) else "",
        score_note=score_note(e.result, t),
    )


def problems(entries: list[Entry], t: Translator, names: Anonymizer,
             href: Callable[[Entry], str]) -> list[Problem]:
    """Every graded submission with a check that timed out, errored or failed in the grader."""
    found = []
    for e in entries:
        checks = problem_checks(e.result) if e.result.status == "graded" else []
        if checks:
            page = href(e)
            found.append(Problem(names.name(e), page, [
                (c.id, c.status, t.status(c.status), f"{page}#{_anchor(c.id)}" if page else "") for c in checks]))
    return found


def pass_rate(check_id: str, statuses: Counter[str], t: Translator) -> PassRate:
    """Passed / present for one check, and how many of its failures were timeouts."""
    present, passed = sum(statuses.values()), statuses["passed"] + statuses["graded"]
    failures = statuses["failed"] + statuses["error"] + statuses["timeout"]
    note = failure_note(failures, statuses["timeout"], t)
    if check_id.split("/", 1)[0] == MANUAL_GROUP:
        note = t("graded_by_hand_count")
    return PassRate(check_id, passed, present, _percent(passed, present), note=note,
                    mostly_timeouts=2 * statuses["timeout"] > failures)


def dashboard(batch: Batch, t: Translator, names: Anonymizer, *, similarity: bool,
              failures_shown: int = 15, slowest_shown: int = 10) -> Dashboard:
    entries = batch.entries
    graded = [e for e in entries if e.result.status == "graded"]
    group_keys = ordered_groups({c.group for e in entries for c in e.result.checks})
    # No links to the pages when anonymized: their folder names are the students' ids.
    href = (lambda e: "") if names.enabled else (lambda e: e.page_href)

    max_total = batch_max_score(batch)
    rows = [_row(item, group_keys, batch, t, names, href, max_total) for item in class_list(batch)]

    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    failed_by: dict[tuple[str, str], set[str]] = defaultdict(set)
    example: dict[tuple[str, str], str] = {}
    for e in graded:
        for c in e.result.checks:
            statuses[c.id][shown_status(c)] += 1
            if c.status == "passed":
                continue
            if c.group != MANUAL_GROUP:  # "awaiting a TA" is not a failure worth counting
                message = names.scrub(t.message(c.messages, c.message))
                # Messages quote each student's own numbers; the same mistake should count once.
                key = (c.id, NUMBER.sub("#", message))
                failed_by[key].add(e.id)
                example.setdefault(key, message)
    rank = {g: i for i, g in enumerate(group_keys)}
    check_order = sorted(dict.fromkeys(c.id for e in graded for c in e.result.checks),
                         key=lambda cid: rank[cid.split("/", 1)[0]])
    failures = sorted((Failure(key[0], example[key], len(ids)) for key, ids in failed_by.items()),
                      key=lambda f: (-f.students, f.check_id, f.message))[:failures_shown]

    timed = sorted(((s, e) for e in entries if (s := _total_time(e)) is not None), key=lambda p: -p[0])
    seconds = [s for s, _ in timed]
    times = []
    if seconds:
        times = [(t("time_total"), num(round(sum(seconds), 1))), (t("time_median"),
                 num(round(statistics.median(seconds), 1))), (t("time_max"), num(round(seconds[0], 1)))]
    environment = []
    for key, attr in (("isolation", "isolation"), ("device", "device"), ("profile", "profile"),
                      ("grader_version", "grader_version"), ("seed", "seed")):
        counted = Counter(str(getattr(e.result.environment, attr)) for e in entries)
        environment.append((t(key), counted.most_common()))

    found = problems(entries, t, names, href)
    counts = [Count(t("graded_count"), len(graded)), Count(t("rejected_count"), len(entries) - len(graded)),
              Count(t("unreadable_count"), len(found) + len(batch.unreadable), "#problems")]
    if batch.roster is not None:
        counts += [Count(t("missing_count"), sum(r.status == MISSING for r in rows)),
                   Count(t("unmatched_count"), sum(r.flag == "unmatched" for r in rows))]
        ambiguous = sum(r.flag == "ambiguous" for r in rows)
        counts += [Count(t("ambiguous_count"), ambiguous)] if ambiguous else []
    return Dashboard(
        groups=[(g, t.group(g)) for g in group_keys],
        rows=rows,
        rejected=[(names.name(e), names.scrub(e.result.error or "")) for e in entries
                  if e.result.status == "rejected"],
        unreadable=[(names.scrub(u.folder.name), names.scrub(u.reason)) for u in batch.unreadable],
        histogram=plots.histogram([e.result.score for e in graded], max_total) if graded else None,
        pass_rates=[pass_rate(cid, statuses[cid], t) for cid in check_order],
        failures=failures,
        slowest=[(names.name(e), href(e), num(round(s, 1))) for s, e in timed[:slowest_shown]],
        counts=counts,
        problems=found,
        times=times,
        environment=environment,
        similarity=similarity,
        roster=batch.roster is not None,
        anonymized=names.enabled,
        max_score=num(max_total),
    )
