"""Turning per-case raw outputs into sub-check results: the part every check group shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..messages import Text, text
from ..results import CheckResult
from .base import StageOutputs

STAGE_ENDINGS = {
    "timeout": text("超时被终止", "was stopped at its time limit"),
    "memory": text("内存超限被终止", "was stopped for using too much memory"),
    "crashed": text("进程异常退出", "ended abruptly (the process exited or crashed)"),
    "not_run": text("没有运行（沙箱提前结束）", "did not run (the sandbox ended early)"),
}


@dataclass
class Verdict:
    """One case judged by the parent: ok, or why not, with what a report shows for it."""

    name: str
    ok: bool
    why: Text | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def student_error(record: dict[str, Any]) -> Text:
    """The exception a case raised, pointing at the student's line."""
    err = record.get("error") or {}
    name, msg = str(err.get("type", "Error")), str(err.get("message", ""))[:300]
    where = err.get("where") or {}
    if where:
        loc_zh = f"（{where.get('file')} 第 {where.get('line')} 行：{where.get('code', '')}）"
        loc_en = f" (at {where.get('file')} line {where.get('line')}: {where.get('code', '')})"
    else:
        loc_zh = loc_en = ""
    if name == "MemoryError":
        return text(f"内存用量超过上限（MemoryError）{loc_zh}", f"used more memory than allowed (MemoryError){loc_en}")
    return text(f"运行出错 {name}: {msg}{loc_zh}", f"raised {name}: {msg}{loc_en}")


def missing_output(outputs: StageOutputs, case: str) -> Text:
    """Why a case has no record: how the stage ended."""
    ending = STAGE_ENDINGS.get(outputs.state)
    if ending is None:
        return text(f"用例 {case} 没有输出", f"case {case} produced no output")
    return text(f"用例 {case} 没有输出：检查进程{ending.zh}", f"case {case} produced no output: the check {ending.en}")


def subcheck(check_id: str, max_score: float, verdicts: list[Verdict], passed: Text) -> CheckResult:
    """Partial credit: the share of cases that passed; the message names the first failure."""
    total = len(verdicts)
    good = sum(v.ok for v in verdicts)
    cases = [{"name": v.name, "ok": v.ok, **({"why": v.why.both(), "messages": v.why.as_dict()} if v.why else {}),
              **v.detail} for v in verdicts]
    if total and good == total:
        return CheckResult.make(check_id, "passed", max_score, passed, cases=cases)
    first = next((v for v in verdicts if not v.ok), None)
    why = first.why if first and first.why else text("没有可判定的输出", "no output to judge")
    summary = text(f"{total - good}/{total} 个用例未通过。首个：{first.name if first else '-'}：{why.zh}",
                   f"{total - good} of {total} cases failed. First: {first.name if first else '-'}: {why.en}")
    score = round(max_score * good / total, 4) if total else 0.0
    return CheckResult.make(check_id, "failed", max_score, summary, score=score, cases=cases)
