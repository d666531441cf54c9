"""`unet-grader check [FOLDER | ARCHIVE]`: a student's self-check, on the public cases only.

The folder, or the archive the student will hand in, is graded exactly as a TA's batch grades it (same
intake with the same caps, rejections and root finding, same sandbox and checks), but with `public_only`
and the fixed public seed, so no hidden case is ever drawn or shown. By default it runs the function
checks only and answers in seconds: training takes minutes on a laptop (`--train`, with progress while it
runs), and executing the notebook takes about a minute even with its training capped (`--notebook`); the
notebook is still read without running it, for the written answers and the packing advice. The last line
says exactly what was checked and what was not.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from . import intake, packing, pipeline, sandbox
from .checks.registry import GROUPS
from .console import duration, table, width, wrap
from .intake import Caps, SubmissionSource
from .intake import reasons as intake_reasons
from .intake.sources import archive_stem, safe_id
from .messages import Text, text
from .progress import Ticker
from .report.labels import GROUPS as GROUP_ORDER
from .report.labels import Translator
from .results import CheckResult, SubmissionResult
from .rubric import load
from .settings import PUBLIC_SEED, RunSettings
from .training.profiles import NETWORKS, lookup

# the lab's question numbers, as the notebook names them
TASKS = {"jaccard": "Q3", "unet_shallow": "Q6", "up_add": "add", "unet_add": "add", "deconv2d": "Q7",
         "training": "Q6/add", "notebook": "Q2/Q3", "answers": "Q1/Q4/Q5"}
BY_HAND = "answers"
OPTIONAL = {"training": "--train", "notebook": "--notebook"}
PROFILE = "cpu"
COLUMNS = 80  # the table and every message fit a standard terminal
# The TA's checks draw hidden cases; the self-check draws the same checks' cases from a public seed.
HIDDEN = re.compile(r"\bhidden(?=-)")


def default_html_dir(folder: Path) -> Path:
    """`week-06-check/` beside the folder (or the archive): never inside what is handed in."""
    folder = folder.resolve()
    name = archive_stem(folder.name) if folder.is_file() else folder.name
    return folder.parent / f"{name}-check"


def _pick(t: Translator, zh: str, en: str) -> str:
    """A label: `zh / en` under --lang both."""
    return text(zh, en).pick(t.lang)


def _say(t: Translator, zh: str, en: str) -> str:
    """A sentence: Chinese over English under --lang both, each wrapped to the terminal's width."""
    return "\n".join(wrap(_hint(t, text(zh, en)), COLUMNS))


def _hint(t: Translator, message: Text | dict[str, str], fallback: str = "") -> str:
    """A one-line message per language; Chinese over English under --lang both."""
    messages = message.as_dict() if isinstance(message, Text) else message
    return "\n".join(" ".join(line.split()) for line in t.message_lines(messages, fallback))


def public(s: str) -> str:
    """A check id or message as the self-check shows it: its cases are public, never called hidden."""
    return HIDDEN.sub("public", s)


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
        rows.append([task, public(check.id), status, points, public(_hint(t, check.messages, check.message))])
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
        body = wrap(message, COLUMNS - width(mark))
        lines.append("\n".join([mark + body[0], *(" " * width(mark) + b for b in body[1:])]))
    return lines


def _publicly(result: SubmissionResult) -> SubmissionResult:
    """A copy for the self-check's page: check ids, messages and case names say public, not hidden."""
    checks = []
    for c in result.checks:
        details = dict(c.details)
        if isinstance(details.get("cases"), list):
            details["cases"] = [{**case, "name": public(str(case.get("name", "")))} if isinstance(case, dict)
                                else case for case in details["cases"]]
        checks.append(replace(c, id=public(c.id), message=public(c.message), details=details,
                              messages={k: public(v) for k, v in c.messages.items()}))
    return replace(result, checks=checks)


def _report(out_dir: Path, result: SubmissionResult, lang: str) -> Path:
    from .report import render_all

    _publicly(result).write(out_dir / result.submission.id / "result.json")
    render_all(out_dir, lang=lang)
    return out_dir / result.submission.id / "report.html"


def _source(path: Path) -> SubmissionSource:
    """The archive as a TA's batch finds it (same id and hash), or the folder graded from a copy."""
    if path.is_file():
        return intake.collect([path])[0]
    return SubmissionSource(id=safe_id(path.name), path=path, kind="folder", sha256="")


def _inspect(source: SubmissionSource, scratch: Path) -> list[packing.Finding]:
    """The packing advice, on the folder itself or on the archive as the intake unpacks it."""
    if source.kind == "folder":
        return packing.inspect(source.path, Caps())
    try:
        unpacked = intake.unpack(source, scratch, Caps())
    except intake.Rejected:
        return []  # the grading says why, with the intake's own reason
    return packing.inspect(unpacked.root, Caps())


def _train(source: SubmissionSource, settings: RunSettings, t: Translator, echo, progress) -> SubmissionResult:
    """The training check alone, with a live line (or a line every half minute) while it runs."""
    profile = lookup(PROFILE)
    limit = sum(profile.nets[net].timeout_s for net in NETWORKS)
    names = ", ".join(NETWORKS.values())
    echo(_say(t, f"正在训练 {names}（{PROFILE} 配置，最长 {duration(limit)}）…",
              f"Training {names} ({PROFILE} profile, {duration(limit)} at most)…"))
    with Ticker(_pick(t, "  训练中，已用", "  training, so far"), stream=progress):
        # a work folder of its own: the intake unpacks into an empty one
        trained = pipeline.grade(source, replace(settings, checks=["training"],
                                                 work_root=settings.work_root / "training"))
    for check in trained.checks:
        seconds = check.details.get("seconds")
        took = f" ({duration(seconds)})" if isinstance(seconds, (int, float)) else ""
        echo(f"  {check.id}: {t.status(check.status)}{took}")
    return trained


def _verdict(t: Translator, result: SubmissionResult, train: bool, notebook: bool) -> str:
    """The last line: what was checked and how it went, then what was NOT checked."""
    ran_zh, ran_en = ["自动的函数检查"], ["automatic function checks"]
    if train:
        ran_zh.append("训练")
        ran_en.append("training")
    if notebook:
        ran_zh.append("笔记本")
        ran_en.append("notebook")
    failures = _automatic_failures(result)
    automatic = [c for c in result.checks if c.group != BY_HAND]
    if result.status != "graded":
        how_zh, how_en = "没有运行（无法评分，见上）", "not run (this cannot be graded: see above)"
    elif failures:
        how_zh = f"{len(automatic)} 项中 {len(failures)} 项未通过"
        how_en = f"{len(failures)} of {len(automatic)} did not pass"
    else:
        how_zh, how_en = "全部通过", "all passed"
    not_zh, not_en = [], []
    if not train:
        not_zh.append("训练（--train）")
        not_en.append("training (--train)")
    if not notebook:
        not_zh.append("笔记本（--notebook）")
        not_en.append("notebook (--notebook)")
    not_zh += ["书面回答（由助教评分）", "助教的隐藏用例"]
    not_en += ["written answers (graded by a TA)", "the TA's hidden cases"]
    return _say(t, f"{'、'.join(ran_zh)}（公开用例）：{how_zh}；未检查：{'、'.join(not_zh)}",
                f"{' and '.join(ran_en)} (public cases): {how_en}; NOT checked: {', '.join(not_en)}")


def main(*, folder: Path, train: bool = False, notebook: bool = False, html: Path | None = None,
         lang: str = "both", echo=print, progress=None) -> int:
    """0 when every automatic check passes (answers are graded by hand); 1 otherwise; 2 for a usage error.

    `folder` is the week-06 folder or the archive to hand in; `progress` (default stderr) gets the live
    line while training.
    """
    t = Translator(lang)
    folder = folder.resolve()
    if not folder.exists():
        print(f"unet-grader check: {folder} is neither a folder nor an archive", file=sys.stderr)
        return 2
    if html is not None and folder.is_dir() and html.resolve().is_relative_to(folder):
        print(f"unet-grader check: --html {html} lies inside {folder}, which you hand in; choose a folder "
              "outside it", file=sys.stderr)
        return 2
    start = time.perf_counter()
    source = _source(folder)
    skipped = [g for g, flag in (("training", train), ("notebook", notebook)) if not flag and g in GROUPS]
    zh, en = ("压缩包 ", "the archive ") if source.kind == "archive" else ("", "")
    echo(_say(t, f"自检{zh}{folder}（仅公开用例）…", f"Checking {en}{folder} (public cases only)…"))
    if not sandbox.probe().bubblewrap:  # a student's own code on their own machine: said, not refused
        echo(_say(t, "注意：此机器上没有可用的沙箱，代码将不受隔离地运行。",
                  "Note: no sandbox can run on this machine, so the code runs without isolation."))
    with tempfile.TemporaryDirectory(prefix=sandbox.leftovers.prefix("check")) as tmp:
        findings = _inspect(source, Path(tmp) / "inspect")
        out_dir = html.resolve() if html is not None else Path(tmp) / "out"
        functions = [g for g in GROUPS if g not in skipped and g != "training"]
        settings = RunSettings(out_dir=out_dir, work_root=Path(tmp) / "work", rubric=load(), seed=PUBLIC_SEED,
                               profile=PROFILE, device="cpu", checks=functions, public_only=True)
        try:
            result = pipeline.grade(source, settings)
            if train and "training" in GROUPS and result.status == "graded":
                trained = _train(source, settings, t, echo, progress)
                result.checks += trained.checks
                result.logs.update(trained.logs)
                result.timings["training"] = trained.timings.get("total", 0.0)
        finally:
            shutil.rmtree(settings.work_root, ignore_errors=True)
        page = _report(out_dir, result, lang) if html is not None else None
    # the intake's own warnings, less the one the packing advice already gives as an error
    warnings = [str(w) for w in result.extra.get("warnings", []) if w != intake_reasons.no_notebook().both()]
    if findings or warnings:
        echo("\n" + _pick(t, "打包前请注意", "Before you pack") + ":")
        echo("\n".join(_findings(findings, warnings, t)))
    echo("")
    if result.status == "rejected":  # once, not in every row: nothing ran
        messages = result.checks[0].messages if result.checks else {}
        why = "\n".join(t.message_lines(messages, result.error or ""))
        echo("\n".join(wrap(_pick(t, "无法评分", "This cannot be graded") + ":\n" + why, COLUMNS)))
        echo("\n".join(wrap("\n".join(t.lines("repack")), COLUMNS)))
    else:
        headers = [_pick(t, "任务", "task"), _pick(t, "检查", "check"), _pick(t, "状态", "status"),
                   _pick(t, "得分", "points"), _pick(t, "提示", "hint")]
        echo(table(headers, _rows(result, t, skipped), columns=COLUMNS))
    errors = [f for f in findings if f.level == "error"]
    echo("")
    if errors:
        echo(_say(t, f"另有 {len(errors)} 个问题会影响评分，提交前请先修正（见“打包前请注意”）。",
                  f"{len(errors)} problem(s) above would cost you at grading: fix them before handing in."))
    if page is not None:
        echo("\n".join(wrap(_pick(t, "报告页面", "Report page") + f": {page}", COLUMNS)))
    took = duration(time.perf_counter() - start)
    if source.kind == "archive":
        echo(_say(t, f"用时 {took}。检查的就是你要提交的这个压缩包。",
                  f"Took {took}. This is the archive you hand in."))
    else:
        pack = f"cd {folder.parent} && tar -zcvf {packing.FOLDER_NAME}.tar.gz {packing.FOLDER_NAME}"
        echo(_say(t, f"用时 {took}。打包：{pack}，再用 unet-grader check {packing.FOLDER_NAME}.tar.gz 检查压缩包",
                  f"Took {took}. To pack: {pack} , then check the archive with unet-grader check "
                  f"{packing.FOLDER_NAME}.tar.gz"))
    echo(_verdict(t, result, train, notebook))
    failures = _automatic_failures(result)
    return 0 if result.status == "graded" and not failures and not errors else 1
