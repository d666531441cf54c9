"""Finding the submissions among the paths a TA names: ids, kinds and content hashes."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

from .folders import folder_entries
from .model import SubmissionSource
from .names import JUNK_DIRS
from .reasons import Rejected

# What may be a student's archive in a folder of submissions. Beyond the accepted formats, other
# archive names are collected too, so that a .rar is rejected with a reason instead of skipped unseen.
ACCEPTED_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
ARCHIVE_SUFFIXES = (*ACCEPTED_SUFFIXES, ".tar.bz2", ".tar.xz", ".tbz2", ".txz", ".gz", ".bz2", ".xz", ".rar",
                    ".7z")
SCAN_DEPTH = 3

_UNSAFE_ID = re.compile(r"[^\w.\-]+")  # \w is Unicode-aware, so Chinese names stay readable
_MAX_ID = 80  # characters; 240 bytes of UTF-8 at most, under the usual 255-byte name limit
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                               *(f"LPT{i}" for i in range(1, 10))})


def collect(paths: Sequence[Path]) -> list[SubmissionSource]:
    """The submissions under `paths`: archives, unpacked submission folders, and folders holding either.

    Sorted by id; ids are unique (case-insensitively, since they become folder names). A path that does
    not exist, or a folder submission that cannot be read, raises `ValueError`.
    """
    found: dict[Path, tuple[Path, str, str]] = {}  # resolved path -> (path as given, kind, stem)
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if path.is_dir():
            for sub, kind, stem in _expand(path):
                found.setdefault(sub.resolve(), (sub, kind, stem))
        else:
            found.setdefault(path.resolve(), (path, "archive", archive_stem(path.name)))
    ids = _unique_ids([(key, stem) for key, (_, _, stem) in sorted(found.items())])
    sources = [SubmissionSource(ids[key], path, kind, _sha256(path, kind))
               for key, (path, kind, _) in found.items()]
    return sorted(sources, key=lambda s: s.id)


def archive_stem(name: str) -> str:
    """The file name without its archive extension(s): `week-06.tar.gz` -> `week-06`."""
    lower = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return Path(name).stem or name


def safe_id(raw: str) -> str:
    """A submission id usable as a folder name everywhere; Chinese characters kept."""
    cleaned = _UNSAFE_ID.sub("_", unicodedata.normalize("NFC", raw)).strip("._-")[:_MAX_ID].strip("._-")
    if not cleaned:
        return "submission"
    if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        return f"_{cleaned}"
    return cleaned


def _unique_ids(stems: list[tuple[Path, str]]) -> dict[Path, str]:
    """Ids in path order: the first of a name keeps it, later ones get -2, -3, ... (never a taken id)."""
    ids: dict[Path, str] = {}
    taken: set[str] = set()
    later: list[tuple[Path, str]] = []
    for path, stem in stems:
        base = safe_id(stem)
        if base.casefold() in taken:
            later.append((path, base))
        else:
            taken.add(base.casefold())
            ids[path] = base
    for path, base in later:
        n = 2
        while f"{base}-{n}".casefold() in taken:
            n += 1
        taken.add(f"{base}-{n}".casefold())
        ids[path] = f"{base}-{n}"
    return ids


def _expand(folder: Path, prefix: tuple[str, ...] = ()) -> Iterator[tuple[Path, str, str]]:
    """(path, kind, stem) for a folder given on the command line or met while expanding one."""
    has_archives, looks_like_submission = _scan(folder)
    if not has_archives:
        if looks_like_submission:
            yield folder, "folder", "-".join(prefix) or folder.resolve().name
        return
    # A folder of submissions; an archive in a per-student subfolder (as LMS downloads arrange them) is
    # named after the subfolder too, or every student would be called week-06.
    for child in sorted(folder.iterdir()):
        if _skipped(child.name):
            continue
        if child.is_dir() and not child.is_symlink():  # a linked folder could loop back
            yield from _expand(child, (*prefix, child.name))
        elif child.name.lower().endswith(ARCHIVE_SUFFIXES):
            yield child, "archive", "-".join((*prefix, archive_stem(child.name)))


def _scan(folder: Path) -> tuple[bool, bool]:
    """(holds archives, holds unet/ or a notebook), looking SCAN_DEPTH levels down."""
    has_archives = looks_like_submission = False
    level = [folder]
    for _ in range(SCAN_DEPTH):
        below: list[Path] = []
        for path in level:
            for child in path.iterdir():
                if _skipped(child.name):
                    continue
                if child.is_dir() and not child.is_symlink():
                    looks_like_submission |= child.name == "unet"
                    below.append(child)
                else:
                    name = child.name.lower()
                    has_archives |= name.endswith(ARCHIVE_SUFFIXES)
                    looks_like_submission |= name.endswith(".ipynb")
        level = below
    return has_archives, looks_like_submission


def _skipped(name: str) -> bool:
    # Hidden folders (.git, .venv) and OS litter are never submissions nor hold any.
    return name.startswith(".") or name in JUNK_DIRS


def _sha256(path: Path, kind: str) -> str:
    """The archive's own hash; for a folder, a hash over its sorted relative paths and contents, taken
    over what the intake would copy, so that resume keys work for folders too."""
    digest = hashlib.sha256()
    if kind == "archive":
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    try:
        files = sorted((e for e in folder_entries(path, []) if not e.is_dir), key=lambda e: e.name)
        for entry in files:
            digest.update(entry.name.encode("utf-8", "surrogateescape") + f"\0{entry.size}\0".encode())
            for chunk in entry.chunks():
                digest.update(chunk)
    except Rejected as exc:
        raise ValueError(f"{path}: {exc.reason.en}") from exc
    return digest.hexdigest()
