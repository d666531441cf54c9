"""`unet-grader check [FOLDER]`: a student's self-check, on the public cases only.

The folder is graded exactly as a TA's batch grades an archive (same intake, sandbox and checks), but
with `public_only` and the fixed public seed, so no hidden case is ever drawn or shown. By default it runs
the function checks only and answers in seconds: training takes minutes on a laptop (`--train`), and
executing the notebook takes about a minute even with its training capped (`--notebook`); the notebook is
still read without running it, for the written answers and the packing advice.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import packing, pipeline, sandbox
from .checks.registry import GROUPS
from .console import duration, table, width
from .intake import Caps, SubmissionSource
from .intake import reasons as intake_reasons
from .intake.sources import safe_id
from .messages import Text, text
from .report.labels import GROUPS as GROUP_ORDER
from .report.labels import Translator
from .results import CheckResult, SubmissionResult
from .rubric import load
from .settings import PUBLIC_SEED, RunSettings

# the lab's question numbers, as the notebook names them
TASKS = {"jaccard": "Q3", "unet_shallow": "Q6", "up_add": "add", "unet_add": "add", "deconv2d": "Q7",
         "training": "Q6/add", "notebook": "Q2/Q3", "answers": "Q1/Q4/Q5"}
BY_HAND = "answers"
OPTIONAL = {"training": "--train", "notebook": "--notebook"}


def default_html_dir(folder: Path) -> Path:
    """`week-06-check/` beside the folder: never inside it, where it would be packed and handed in."""
    folder = folder.resolve()
    return folder.parent / f"{folder.name}-check"


def _pick(t: Translator, zh: str, en: str) -> str:
    """A label: `zh / en` under --lang both."""
    return text(zh, en).pick(t.lang)


def _say(t: Translator, zh: str, en: str) -> str:
    """A sentence: Chinese over English under --lang both."""
    return _hint(t, text(zh, en))


def _hint(t: Translator, message: Text | dict[str, str], fallback: str = "") -> str:
    """A one-line message per language; Chinese over English under --lang both."""
    messages = message.as_dict() if isinstance(message, Text) else message
    return "\n".join(" ".join(line.split()) for line in t.message_lines(messages, fallback))


def _rows(result: SubmissionResult, t: Translator, skipped: list[str]) -> list[list[str]]:
    rows = []
    order = {g: i for i, g in enumerate(GROUP_ORDER)}
    for check in sorted(result.checks, key=lambda c: order.get(c.group, len(order))):
        task = TASKS.get(check.group, "")
        if check.group == BY_HAND:
            task = check.id.rsplit("/", 1)[-1].upper()
            status = _pick(t, "助教评分", "by the TA")
            points = f"-/{check.max_score:g}"
        else:
            status = t.status(check.status)
            points = f"{check.score:g}/{check.max_score:g}"
        rows.append([task, check.id, status, points, _hint(t, check.messages, check.message)])
    for group in skipped:
        hint = text(f"未运行：加上 {OPTIONAL[group]} 运行这一项", f"not run: add {OPTIONAL[group]} to run it")
        rows.append([TASKS[group], group, _pick(t, "未运行", "not run"), "-", _hint(t, hint)])
    return rows


def _automatic_failures(result: SubmissionResult) -> list[CheckResult]:
    """The checks that decide the exit code: every automatic check that ran and did not pass."""
    return [c for c in result.checks if c.group != BY_HAND and c.status != "passed"]


def _findings(findings: list[packing.Finding], warnings: list[str], t: Translator) -> list[str]:
    lines = []
    items = [*((f.level, _hint(t, f.text)) for f in findings), *(("warning", w) for w in warnings)]
    for level, message in items:
        mark = f"  [{_pick(t, '错误', 'error') if level == 'error' else _pick(t, '注意', 'warning')}] "
        lines.append(mark + message.replace("\n", "\n" + " " * width(mark)))
    return lines


def _report(out_dir: Path, result: SubmissionResult, lang: str) -> Path:
    from .report import render_all

    result.write(out_dir / result.submission.id / "result.json")
    render_all(out_dir, lang=lang)
    return out_dir / result.submission.id / "report.html"


def main(*, folder: Path, train: bool = False, notebook: bool = False, html: Path | None = None,
         lang: str = "both", echo=print) -> int:
    """0 when every automatic check passes (answers are graded by hand); 1 otherwise; 2 for a usage error."""
    t = Translator(lang)
    folder = folder.resolve()
    if not folder.is_dir():
        print(f"unet-grader check: {folder} is not a folder", file=sys.stderr)
        return 2
    if html is not None and html.resolve().is_relative_to(folder):
        print(f"unet-grader check: --html {html} lies inside {folder}, which you hand in; choose a folder "
              "outside it", file=sys.stderr)
        return 2
    start = time.perf_counter()
    findings = packing.inspect(folder, Caps())
    skipped = [g for g, flag in (("training", train), ("notebook", notebook)) if not flag and g in GROUPS]
    echo(_pick(t, f"自检 {folder}（仅公开用例）…", f"Checking {folder} (public cases only)…"))
    if not sandbox.probe().bubblewrap:  # a student's own code on their own machine: said, not refused
        echo(_say(t, "注意：此机器上没有可用的沙箱，代码将不受隔离地运行。",
                  "Note: no sandbox can run on this machine, so the code runs without isolation."))
    with tempfile.TemporaryDirectory(prefix=sandbox.leftovers.prefix("check")) as tmp:
        out_dir = html.resolve() if html is not None else Path(tmp) / "out"
        settings = RunSettings(out_dir=out_dir, work_root=Path(tmp) / "work", rubric=load(), seed=PUBLIC_SEED,
                               profile="cpu", device="cpu", checks=[g for g in GROUPS if g not in skipped],
                               public_only=True)
        source = SubmissionSource(id=safe_id(folder.name), path=folder, kind="folder", sha256="")
        try:
            result = pipeline.grade(source, settings)
        finally:
            shutil.rmtree(settings.work_root, ignore_errors=True)
        page = _report(out_dir, result, lang) if html is not None else None
    # the intake's own warnings, less the one the packing advice already gives as an error
    warnings = [str(w) for w in result.extra.get("warnings", []) if w != intake_reasons.no_notebook().both()]
    if findings or warnings:
        echo("\n" + _pick(t, "打包前请注意", "Before you pack") + ":")
        echo("\n".join(_findings(findings, warnings, t)))
    echo("")
    if result.status == "rejected":
        echo(_pick(t, "无法评分", "This folder cannot be graded") + f": {result.error}")
    headers = [_pick(t, "任务", "task"), _pick(t, "检查", "check"), _pick(t, "状态", "status"),
               _pick(t, "得分", "points"), _pick(t, "提示", "hint")]
    echo(table(headers, _rows(result, t, skipped)))
    failures = _automatic_failures(result)
    errors = [f for f in findings if f.level == "error"]
    echo("")
    if failures or result.status != "graded":
        echo(_say(t, f"{len(failures)} 项自动检查未通过，见上表的提示。",
                  f"{len(failures)} automatic check(s) did not pass: see the hints above."))
    else:
        echo(_say(t, "全部自动检查通过（公开用例）。助教评分时还会用隐藏用例；Q1/Q4/Q5 由助教人工评分。",
                  "Every automatic check passed on the public cases. The TA also grades with hidden cases; "
                  "Q1, Q4 and Q5 are graded by hand."))
    if errors:
        echo(_say(t, f"另有 {len(errors)} 个问题会影响评分，提交前请先修正（见“打包前请注意”）。",
                  f"{len(errors)} problem(s) above would cost you at grading: fix them before handing in."))
    if page is not None:
        echo(_pick(t, "报告页面", "Report page") + f": {page}")
    took = duration(time.perf_counter() - start)
    pack = f"cd {folder.parent} && tar -zcvf {packing.FOLDER_NAME}.tar.gz {packing.FOLDER_NAME}"
    echo(_say(t, f"用时 {took}。打包：{pack}", f"Took {took}. To pack: {pack}"))
    return 0 if result.status == "graded" and not failures and not errors else 1
