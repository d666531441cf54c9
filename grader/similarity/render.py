"""Write the similarity report: `similarity.html` (one offline page) and `similarity.csv` (one row a pair)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from ..messages import Text, text
from ..report import csvsafe
from .compare import AnswerMatch, CodeMatch, Pair, Settings
from .extract import TASKS, Kit, Submission

CSV_COLUMNS = ["rank", "a", "b", "score", "evidence", "code_score", "answer_score", "code", "answers",
               "output_run", "output_values"]

# What each setting means, for the page's settings table.
SETTING_LABELS: dict[str, Text] = {
    "k": text("代码 k-gram 的词元数", "tokens in a code k-gram"),
    "window": text("winnowing 窗口（k-gram 个数）", "winnowing window (k-grams)"),
    "common_fraction": text("超过这一比例的提交共有的指纹不算证据",
                            "fingerprints shared by more than this share of the batch are no evidence"),
    "common_min": text("……但最多这么多份提交共有的指纹总算证据", "... but those shared by at most this many "
                       "submissions always are"),
    "code_threshold": text("代码：较小一方的指纹在另一方出现的比例", "code: share of the smaller side's "
                           "fingerprints found in the other"),
    "code_min_shared": text("代码：至少共有的指纹数", "code: fingerprints shared, at least"),
    "text_ngram": text("答案：每个 shingle 的字符（或英文单词）数", "answers: characters (or English words) "
                       "per shingle"),
    "text_threshold": text("答案：较小一方的 shingle 在另一方出现的比例", "answers: share of the smaller "
                           "side's shingles found in the other"),
    "text_min_shared": text("答案：至少共有的 shingle 数", "answers: shingles shared, at least"),
    "output_min_run": text("输出：两份笔记本按同样顺序打印的相同数值个数", "outputs: identical numbers both "
                           "notebooks print in the same order"),
    "output_min_digits": text("输出：数值至少的有效数字", "outputs: significant digits a number needs"),
}

TASK_LABELS = {task: f"{task} ({name})" for task, (_, name) in TASKS.items()}


def _matches_cell(matches: list[CodeMatch] | list[AnswerMatch], name: str) -> str:
    """`task shared/smaller (containment)`, with `*` on those that passed on their own."""
    return "; ".join(f"{getattr(m, name)} {m.counts.shared}/{min(m.counts.size_a, m.counts.size_b)} "
                     f"({m.counts.containment:.2f})" + (" *" if m.flagged else "") for m in matches)


def write_csv(path: Path, pairs: list[Pair]) -> None:
    """One row a pair; `*` marks the tasks and answers that passed their threshold."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csvsafe.writer(fh)  # formula-safe, as every CSV the grader writes
        out.writerow(CSV_COLUMNS)
        for rank, pair in enumerate(pairs, start=1):
            run = pair.outputs.run if pair.outputs else []
            out.writerow([rank, pair.a, pair.b, f"{pair.score:.3f}", " ".join(pair.evidence),
                          f"{pair.code_score:.3f}", f"{pair.answer_score:.3f}",
                          _matches_cell(pair.code, "task"), _matches_cell(pair.answers, "question"),
                          len(run), " ".join(run)])


def _environment() -> Environment:
    return Environment(loader=PackageLoader("grader.similarity", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def render_html(pairs: list[Pair], *, subs: list[Submission], kit: Kit, kit_path: Path, settings: Settings,
                out_dir: Path) -> str:
    """The page, rendered only from plain data (the pairs' dicts, the settings, the notes)."""
    reports = {s.id: f"{quote(s.id)}/report.html" for s in subs if (out_dir / s.id / "report.html").is_file()}
    return _environment().get_template("similarity.html.j2").render(
        pairs=[p.to_dict() for p in pairs],
        submissions=len(subs),
        reports=reports,
        settings=[(name, value, SETTING_LABELS[name].as_dict()) for name, value in asdict(settings).items()],
        tasks=TASK_LABELS,
        kit={"found": kit.found, "path": str(kit_path), "notes": [n.as_dict() for n in kit.notes]},
        notes=[(s.id, n.as_dict()) for s in subs for n in s.notes],
    )


def write(out_dir: Path, pairs: list[Pair], *, subs: list[Submission], kit: Kit, kit_path: Path,
          settings: Settings) -> tuple[Path, Path]:
    html_path, csv_path = out_dir / "similarity.html", out_dir / "similarity.csv"
    html = render_html(pairs, subs=subs, kit=kit, kit_path=kit_path, settings=settings, out_dir=out_dir)
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(html_path)
    write_csv(csv_path, pairs)
    return html_path, csv_path
