"""Reading a submission that is a folder (a student's own `week-06/`), never following links."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from ..messages import Text
from . import reasons
from .archives import CHUNK
from .names import is_checkpoint_notebook, is_junk
from .reasons import Rejected
from .tree import Entry

_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def folder_entries(folder: Path, warnings: list[Text],
                   checkpoints: list[tuple[str, ...]] | None = None) -> Iterator[Entry]:
    """The folders and plain files under `folder`, junk left out; links and special files are skipped
    with a warning (a student's folder may hold a venv link or a socket, which is no reason to refuse).

    The notebooks in a `.ipynb_checkpoints/` folder are not read, only named in `checkpoints`, so that the
    intake can say which notebook it grades instead."""
    pending: list[tuple[str, tuple[str, ...]]] = [(os.fspath(folder), ())]
    while pending:
        path, parts = pending.pop()
        try:
            with os.scandir(path) as listing:
                children = sorted(listing, key=lambda child: child.name)
        except OSError as exc:
            raise Rejected(reasons.unreadable("/".join(parts) or ".", exc.strerror or str(exc))) from exc
        for child in children:
            sub = (*parts, child.name)
            name = "/".join(sub)
            if is_junk(sub):
                if checkpoints is not None and child.name == ".ipynb_checkpoints" and not child.is_symlink():
                    checkpoints += _notebooks_in(child.path, sub)
                continue
            if child.is_symlink():
                warnings.append(reasons.skipped_link(name))
            elif child.is_dir(follow_symlinks=False):
                yield Entry(name, sub, is_dir=True)
                pending.append((child.path, sub))
            elif child.is_file(follow_symlinks=False):
                size = child.stat(follow_symlinks=False).st_size
                yield Entry(name, sub, is_dir=False, size=size, chunks=partial(_chunks, child.path, name))
            else:
                warnings.append(reasons.skipped_special(name))


def _notebooks_in(path: str, parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    try:
        with os.scandir(path) as listing:
            return sorted((*parts, c.name) for c in listing
                          if is_checkpoint_notebook((*parts, c.name)) and c.is_file(follow_symlinks=False))
    except OSError:
        return []


def _chunks(path: str, name: str) -> Iterator[bytes]:
    try:
        # O_NOFOLLOW: the file was plain when listed; refuse it if it has since become a link.
        with os.fdopen(os.open(path, _READ), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    except OSError as exc:
        raise Rejected(reasons.unreadable(name, exc.strerror or str(exc))) from exc
