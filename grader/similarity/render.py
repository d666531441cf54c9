"""Write the similarity report: `similarity.html` (one offline page) and `similarity.csv` (one row a pair)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from ..messages import Text, text
from ..report import csvsafe
from .compare import AnswerMatch, Cluster, CodeMatch, Findings, SetAside, Settings
from .extract import TASKS, Kit, Submission

CSV_COLUMNS = ["rank", "a", "b", "score", "evidence", "code_score", "answer_score", "code", "answers",
               "output_run", "output_values", "kind", "members"]

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
    "identical_threshold": text("自己写的代码整体相似到这一程度（指纹集合的 Jaccard 相似度）即归为一组，不论是否常见",
                                "own code this alike as a whole (Jaccard similarity of the fingerprint sets) is "
                                "clustered, however common it is"),
}

TASK_LABELS = {task: f"{task} ({name})" for task, (_, name) in TASKS.items()}


def _matches_cell(matches: list[CodeMatch] | list[AnswerMatch], name: str) -> str:
    """`task shared/smaller (containment)`, with `*` on those that passed on their own."""
    return "; ".join(f"{getattr(m, name)} {m.counts.shared}/{min(m.counts.size_a, m.counts.size_b)} "
                     f"({m.counts.containment:.2f})" + (" *" if m.flagged else "") for m in matches)


def set_aside_text(set_aside: SetAside) -> Text:
    """How much common material was set aside, and why."""
    s = set_aside
    return text(f"{s.code} 个代码指纹和 {s.answers} 个答案 shingle 为本批次 {s.submissions} 份提交中超过 {s.limit} 份"
                f"（超过全班的 {s.fraction:.0%}）所共有，不作为配对的证据；上面的“相同代码”分组仍然计入它们",
                f"{s.code} code fingerprints and {s.answers} answer shingles common to more than {s.limit} of the "
                f"{s.submissions} submissions (over {s.fraction:.0%} of the class) were set aside as no evidence for "
                "a pair; the clusters of identical code still count them")


def _cluster_kind(cluster: Cluster) -> str:
    return "identical-code" if cluster.identical else "near-identical-code"


def write_csv(path: Path, found: Findings) -> None:
    """One row a pair (`*` marks the tasks and answers that passed their threshold), one a cluster of
    identical or near-identical own code (all its members in `members`), and one saying what was set aside."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csvsafe.writer(fh)  # formula-safe, as every CSV the grader writes
        out.writerow(CSV_COLUMNS)
        for rank, pair in enumerate(found.pairs, start=1):
            run = pair.outputs.run if pair.outputs else []
            out.writerow([rank, pair.a, pair.b, f"{pair.score:.3f}", " ".join(pair.evidence),
                          f"{pair.code_score:.3f}", f"{pair.answer_score:.3f}",
                          _matches_cell(pair.code, "task"), _matches_cell(pair.answers, "question"),
                          len(run), " ".join(run), "pair", f"{pair.a} {pair.b}"])
        for rank, cluster in enumerate(found.clusters, start=1):
            code = f"{' '.join(cluster.tasks)} ({cluster.fingerprints} fingerprints)"
            out.writerow([f"C{rank}", cluster.members[0], cluster.members[1], f"{cluster.similarity:.3f}",
                          _cluster_kind(cluster), f"{cluster.similarity:.3f}", "", code, "", "", "", "cluster",
                          " ".join(cluster.members)])
        out.writerow(["", "", "", "", "", "", "", set_aside_text(found.set_aside).en, "", "", "", "set-aside", ""])


def _environment() -> Environment:
    return Environment(loader=PackageLoader("grader.similarity", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def render_html(found: Findings, *, subs: list[Submission], kit: Kit, kit_path: Path, settings: Settings,
                out_dir: Path) -> str:
    """The page, rendered only from plain data (the pairs' dicts, the settings, the notes)."""
    reports = {s.id: f"{quote(s.id)}/report.html" for s in subs if (out_dir / s.id / "report.html").is_file()}
    return _environment().get_template("similarity.html.j2").render(
        pairs=[p.to_dict() for p in found.pairs],
        clusters=[asdict(c) | {"kind": _cluster_kind(c)} for c in found.clusters],
        set_aside=set_aside_text(found.set_aside).as_dict(),
        submissions=len(subs),
        reports=reports,
        settings=[(name, value, SETTING_LABELS[name].as_dict()) for name, value in asdict(settings).items()],
        tasks=TASK_LABELS,
        kit={"found": kit.found, "path": str(kit_path), "notes": [n.as_dict() for n in kit.notes]},
        notes=[(s.id, n.as_dict()) for s in subs for n in s.notes],
    )


def write(out_dir: Path, found: Findings, *, subs: list[Submission], kit: Kit, kit_path: Path,
          settings: Settings) -> tuple[Path, Path]:
    html_path, csv_path = out_dir / "similarity.html", out_dir / "similarity.csv"
    html = render_html(found, subs=subs, kit=kit, kit_path=kit_path, settings=settings, out_dir=out_dir)
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(html_path)
    write_csv(csv_path, found)
    return html_path, csv_path
