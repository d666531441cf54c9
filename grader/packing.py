"""Before a student packs: what in their folder would break or bloat grading, found without running anything.

The intake says the rest when the folder is graded (no unet/, no notebook, several notebooks); this module
adds what only matters at hand-in time: the folder's name, files over the caps, checkpoints and other big
files, archives inside the folder, and a notebook saved without its outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .intake import Caps
from .intake import reasons as intake_reasons
from .intake.layout import KIT_NOTEBOOK
from .intake.names import JUNK_DIRS, is_junk
from .messages import Text, text
from .notebook.cells import NotebookError, load_cells

FOLDER_NAME = "week-06"
BIG_FILE_BYTES = 5 * 2**20
CHECKPOINTS = (".pth", ".pt", ".ckpt", ".pkl", ".pickle", ".h5", ".safetensors", ".onnx")
ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip", ".rar", ".7z", ".gz", ".bz2", ".xz")


@dataclass(frozen=True)
class Finding:
    """`error`: grading would refuse the hand-in or lose points for it; `warning`: worth fixing."""

    level: str
    text: Text


def _error(zh: str, en: str) -> Finding:
    return Finding("error", text(zh, en))


def _warning(zh: str, en: str) -> Finding:
    return Finding("warning", text(zh, en))


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _files(folder: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every plain file the intake would copy; links are not followed."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in JUNK_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(folder)
            if is_junk(rel.parts) or path.is_symlink() or not path.is_file():
                continue
            found.append((rel.as_posix(), path.stat().st_size))
    return found


def _size_findings(files: list[tuple[str, int]], caps: Caps) -> list[Finding]:
    findings = [Finding("error", intake_reasons.file_too_large(name, caps.max_file_bytes))
                for name, size in files if size > caps.max_file_bytes]
    if sum(size for _, size in files) > caps.max_total_bytes:
        findings.append(Finding("error", intake_reasons.total_too_large(caps.max_total_bytes)))
    if len(files) > caps.max_files:
        findings.append(Finding("error", intake_reasons.too_many_members(caps.max_files)))
    for name, size in files:
        lower = name.lower()
        if lower.endswith(CHECKPOINTS):
            findings.append(_warning(
                f"{name}（{_mb(size)}）是模型权重文件：不要提交训练好的权重，评分时会重新训练",
                f"{name} ({_mb(size)}) is a checkpoint: leave trained weights out, grading trains anew"))
        elif lower.endswith(ARCHIVES):
            findings.append(_warning(
                f"文件夹里有压缩包 {name}：打包的是文件夹本身，先把它移出去",
                f"an archive inside the folder, {name}: pack the folder itself, move this one out first"))
        elif size > BIG_FILE_BYTES and size <= caps.max_file_bytes:
            findings.append(_warning(
                f"{name} 很大（{_mb(size)}）：作业只需要代码和笔记本，多余的大文件请删掉",
                f"{name} is big ({_mb(size)}): the lab needs only the code and the notebook; leave it out"))
    return findings


def _notebook_findings(folder: Path) -> list[Finding]:
    notebook = folder / KIT_NOTEBOOK
    if not notebook.is_file():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        if not others:
            return [_error(f"文件夹里没有 {KIT_NOTEBOOK}：Q7 deconv2d、笔记本检查和简答题都在其中",
                           f"no {KIT_NOTEBOOK} in the folder: Q7 (deconv2d), the notebook checks and the "
                           "written answers are in it")]
        notebook = folder / others[0]
    try:
        cells = load_cells(notebook)
    except NotebookError as exc:
        return [_error(f"笔记本无法读取：{exc}；在 Jupyter 中打开并重新保存",
                       f"the notebook cannot be read: {exc}; open it in Jupyter and save it again")]
    if not any(c.outputs for c in cells if c.kind == "code"):
        return [_warning(f"{notebook.name} 没有保存运行结果：运行全部单元（Restart & Run All）后保存再打包",
                         f"{notebook.name} was saved without outputs: run every cell (Kernel → Restart & Run "
                         "All), save, then pack")]
    return []


def inspect(folder: Path, caps: Caps) -> list[Finding]:
    """What to fix in `folder` before packing it as the lab asks (`tar -zcvf week-06.tar.gz week-06`)."""
    findings: list[Finding] = []
    if folder.name != FOLDER_NAME:
        findings.append(_warning(
            f"文件夹名是 {folder.name}，实验要求打包 {FOLDER_NAME}：改名后再打包",
            f"the folder is called {folder.name}; the lab packs {FOLDER_NAME}: rename it, then pack"))
    if not (folder / "unet").is_dir():
        findings.append(_error("文件夹里没有 unet/：Q3、Q6 和相加式 UNet 的代码都在其中",
                               "no unet/ in the folder: the code of Q3, Q6 and UNet_add lives there"))
    return findings + _size_findings(_files(folder), caps) + _notebook_findings(folder)
