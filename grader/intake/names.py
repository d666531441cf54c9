"""Member names: decoding what students' tools wrote, refusing names that could escape, spotting junk."""

from __future__ import annotations

import contextlib
import re
import struct
import zipfile
import zlib

from . import reasons
from .reasons import Rejected

# Left out of every submission: OS and editor litter, and compiled files that could shadow the sources.
JUNK_DIRS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"})
JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})

MAX_COMPONENT_BYTES = 255  # what common file systems allow for one name
MAX_NAME_BYTES = 1024  # keeps dest + name well under PATH_MAX

_ZIP_UTF8_FLAG = 0x800
_ZIP_UNICODE_PATH = 0x7075  # Info-ZIP "Unicode Path" extra field (WinRAR, 7-Zip, Info-ZIP)
_DRIVE = re.compile(r"^[A-Za-z]:")


def is_junk(parts: tuple[str, ...]) -> bool:
    """Whether a path is litter that no grader needs (`__MACOSX/`, `._x`, `.DS_Store`, `*.pyc`, ...)."""
    if any(p in JUNK_DIRS for p in parts):
        return True
    last = parts[-1] if parts else ""
    return last in JUNK_FILES or last.startswith("._") or last.endswith(".pyc")


def is_checkpoint_notebook(parts: tuple[str, ...]) -> bool:
    """Whether a path is Jupyter's autosaved copy of a notebook (`.ipynb_checkpoints/X-checkpoint.ipynb`):
    left out like all litter, but named when the intake says which notebook it grades."""
    return ".ipynb_checkpoints" in parts and bool(parts) and parts[-1].lower().endswith(".ipynb")


def safe_parts(name: str) -> tuple[str, ...]:
    """The path components of a member name, or `Rejected` if the name could land outside the tree.

    Backslashes count as separators: old Windows zippers write them, and on Windows they would be.
    """
    if "\0" in name:
        raise Rejected(reasons.unsafe_name(name, "含空字符", "contains a NUL character"))
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        raise Rejected(reasons.unsafe_name(name, "绝对路径", "absolute path"))
    if _DRIVE.match(norm):
        raise Rejected(reasons.unsafe_name(name, "Windows 盘符", "Windows drive letter"))
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    # ".." and, for Windows, names that it trims to ".." or to nothing ("... ", " ").
    if any(p.strip(". ") == "" for p in parts):
        raise Rejected(reasons.unsafe_name(name, "含 .. 或只由点和空格组成的名字",
                                           "'..' or a name made only of dots and spaces"))
    encoded = [p.encode("utf-8", "surrogateescape") for p in parts]
    too_long = any(len(p) > MAX_COMPONENT_BYTES for p in encoded) or sum(map(len, encoded)) > MAX_NAME_BYTES
    if too_long:
        raise Rejected(reasons.unsafe_name(name, "路径过长", "name too long"))
    return parts


def _redecode(raw: bytes) -> str:
    """UTF-8 if it is, else GBK (Chinese Windows), else cp437, which decodes any bytes (and is what the
    zip format assumes without the UTF-8 flag)."""
    for encoding in ("utf-8", "gbk"):
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode(encoding)
    return raw.decode("cp437")


def tar_name(name: str) -> str:
    """A tar member name; tarfile leaves bytes that are not UTF-8 as surrogates, which we re-decode."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return _redecode(name.encode("utf-8", "surrogateescape"))
    return name


def zip_name(info: zipfile.ZipInfo) -> str:
    """A zip member name: UTF-8 when flagged or given in a Unicode Path field, else GBK or cp437."""
    if info.flag_bits & _ZIP_UTF8_FLAG:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")  # zipfile decoded the raw bytes as cp437: undo that exactly
    return _unicode_path(info.extra, raw) or _redecode(raw)


def _unicode_path(extra: bytes, raw: bytes) -> str | None:
    """The UTF-8 name from a Unicode Path extra field, if present and written for this very name."""
    while len(extra) >= 4:
        kind, size = struct.unpack("<HH", extra[:4])
        body, extra = extra[4 : 4 + size], extra[4 + size :]
        if kind == _ZIP_UNICODE_PATH and len(body) >= 5 and body[0] == 1:
            # The field carries the CRC of the name it translates; a stale one (renamed file) is ignored.
            if struct.unpack("<I", body[1:5])[0] == zlib.crc32(raw):
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None
