"""`Rejected` and the bilingual text of every rejection and warning the intake gives."""

from __future__ import annotations

from ..messages import Text, text


class Rejected(Exception):
    """A submission that cannot be graded at all; `reason` says why to a TA, in both languages."""

    def __init__(self, reason: Text) -> None:
        super().__init__(reason.both())
        self.reason = reason

    def __reduce__(self):
        # Batch workers pass exceptions between processes: rebuild from the Text, not from str(self).
        return (type(self), (self.reason,))


def shown(name: str, limit: int = 120) -> str:
    """A member name quoted for a message, control characters escaped, long names shortened."""
    quoted = repr(name)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


# Rejections -----------------------------------------------------------------------------------------

def empty_file() -> Text:
    return text("文件为空（0 字节）。", "The file is empty (0 bytes).")


def not_an_archive() -> Text:
    return text("无法识别的文件格式：请提交 .tar.gz、.tgz、.tar 或 .zip 压缩包。",
                "Not a recognised archive: hand in a .tar.gz, .tgz, .tar or .zip file.")


def unsupported_format(label: str) -> Text:
    return text(f"不接受 {label} 格式：请用 tar -zcvf week-06.tar.gz week-06 重新打包，或提交 .zip。",
                f"{label} archives are not accepted: repack with `tar -zcvf week-06.tar.gz week-06`, "
                "or hand in a .zip.")


def corrupt(detail: str) -> Text:
    return text(f"压缩包已损坏或无法读取（{detail}）。", f"The archive is damaged or unreadable ({detail}).")


def unreadable(name: str, detail: str) -> Text:
    return text(f"无法读取 {shown(name)}（{detail}）。", f"Cannot read {shown(name)} ({detail}).")


def empty_submission() -> Text:
    return text("提交内容中没有任何文件。", "The submission contains no files.")


def unsafe_name(name: str, why_zh: str, why_en: str) -> Text:
    return text(f"压缩包包含不安全的路径 {shown(name)}（{why_zh}），为安全起见拒收。",
                f"The archive contains an unsafe path {shown(name)} ({why_en}); refused for safety.")


def link(name: str, target: str | None, hard: bool) -> Text:
    kind_zh, kind_en = ("硬链接", "hard link") if hard else ("符号链接", "symbolic link")
    arrow = f" -> {shown(target)}" if target is not None else ""
    return text(f"压缩包包含{kind_zh} {shown(name)}{arrow}：只接受普通文件和文件夹。",
                f"The archive contains a {kind_en} {shown(name)}{arrow}: "
                "only plain files and folders are accepted.")


def special(name: str, kind_zh: str, kind_en: str) -> Text:
    return text(f"压缩包包含特殊文件 {shown(name)}（{kind_zh}）：只接受普通文件和文件夹。",
                f"The archive contains a special file {shown(name)} ({kind_en}): "
                "only plain files and folders are accepted.")


def encrypted(name: str) -> Text:
    return text(f"压缩包中的 {shown(name)} 设有密码：请提交不加密的压缩包。",
                f"{shown(name)} in the archive is password-protected: hand in an unencrypted archive.")


def conflict(name: str) -> Text:
    return text(f"压缩包中 {shown(name)} 既是文件又是文件夹。",
                f"The archive holds {shown(name)} both as a file and as a folder.")


def too_many_members(limit: int) -> Text:
    return text(f"提交内容超过 {limit} 个文件和文件夹的上限。",
                f"The submission holds more than {limit} files and folders (the limit).")


def file_too_large(name: str, limit: int) -> Text:
    return text(f"文件 {shown(name)} 超过单个文件 {_mb(limit)} 的上限。",
                f"{shown(name)} is larger than the {_mb(limit)} limit for one file.")


def total_too_large(limit: int) -> Text:
    return text(f"解压后的总大小超过 {_mb(limit)} 的上限（可能是压缩炸弹）。",
                f"The submission unpacks to more than {_mb(limit)} "
                "(the limit; possibly a decompression bomb).")


def header_too_large(limit: int) -> Text:
    return text(f"压缩包中的文件头超过 {_mb(limit)}（疑似压缩炸弹）。",
                f"An archive header is larger than {_mb(limit)} (looks like a decompression bomb).")


def nothing_to_grade(top_level: list[str]) -> Text:
    listing = ", ".join(top_level[:8]) + (", ..." if len(top_level) > 8 else "")
    return text(f"找不到 unet/ 文件夹，也找不到 .ipynb 笔记本（顶层内容：{listing}）。",
                f"No unet/ folder and no notebook (.ipynb) found (top level holds: {listing}).")


# Warnings -------------------------------------------------------------------------------------------

def skipped_link(name: str) -> Text:
    return text(f"已跳过符号链接 {shown(name)}（只复制普通文件）。",
                f"Skipped the symbolic link {shown(name)} (only plain files are copied).")


def skipped_special(name: str) -> Text:
    return text(f"已跳过特殊文件 {shown(name)}（只复制普通文件）。",
                f"Skipped the special file {shown(name)} (only plain files are copied).")


def several_roots(chosen: str, others: list[str]) -> Text:
    return text(f"有多个文件夹包含 unet/，评分使用 {chosen}（其余：{', '.join(others)}）。",
                f"Several folders hold unet/; grading {chosen} (ignored: {', '.join(others)}).")


def no_unet(notebook: str) -> Text:
    return text(f"没有找到 unet/ 文件夹，只能评分笔记本 {notebook}。",
                f"No unet/ folder found; only the notebook {notebook} can be graded.")


def no_notebook() -> Text:
    return text("没有找到笔记本（.ipynb），笔记本相关的检查将不得分。",
                "No notebook (.ipynb) found; the notebook checks will score nothing.")


def several_notebooks(chosen: str, others: list[str]) -> Text:
    return text(f"找到多个笔记本，评分使用 {chosen}（其余：{', '.join(others)}）。",
                f"Several notebooks found; grading {chosen} (ignored: {', '.join(others)}).")


def notebook_moved(notebook: str, root: str) -> Text:
    return text(f"笔记本 {notebook} 不在提交文件夹 {root} 中，已移入该文件夹后评分。",
                f"The notebook {notebook} was outside the submission folder {root}; it is graded from there.")
