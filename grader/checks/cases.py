"""Turning per-case raw outputs into sub-check results: the part every check group shares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
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


# how far below the submission root a misplaced lab file is looked for, and how many entries at most
SEARCH_DEPTH = 3
SEARCH_ENTRIES = 5000
_NOT_SEARCHED = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"})


def misplaced(submission: Path, rel: str) -> list[str]:
    """Where files named like the lab file `rel` lie instead, relative to the submission root."""
    name = PurePosixPath(rel).name.lower()
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(submission):  # never follows links into folders
        here = Path(dirpath).relative_to(submission)
        dirnames[:] = sorted(d for d in dirnames if d not in _NOT_SEARCHED) if len(here.parts) < SEARCH_DEPTH else []
        seen += len(dirnames) + len(filenames)
        found += [(here / f).as_posix() for f in sorted(filenames) if f.lower() == name]
        if seen > SEARCH_ENTRIES:
            break
    return [f for f in found if f != rel]


def missing_files(submission: Path, required: list[str]) -> Text | None:
    """What is missing of the lab files `required` (paths in the kit's layout), naming where a file of the
    same name was found instead; None when every one is where the kit has it.

    Called in `prepare`, before any student code runs, since the sandbox may change the files.
    """
    for rel in required:
        path = submission / rel
        if path.is_file() and not path.is_symlink():
            continue
        elsewhere = misplaced(submission, rel)
        if not elsewhere:
            return text(f"缺少 {rel}：提交中没有这个文件", f"{rel} is missing: the submission has no such file")
        where = ", ".join(elsewhere[:3])
        return text(f"缺少 {rel}：在 {where} 找到了同名文件，应放在 {rel}（notebook 通过 unet 包导入它）",
                    f"{rel} is missing: found at {where}, expected at {rel} (the notebook imports it from the "
                    f"unet package)")
    return None
