"""Writing members under the destination, and only there, while the caps are counted on real bytes."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import reasons
from .model import Caps
from .names import is_checkpoint_notebook, is_junk
from .reasons import Rejected

# O_NOFOLLOW: never write through a link, even one that should not exist. O_BINARY matters on Windows.
_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
           | getattr(os, "O_CLOEXEC", 0))


@dataclass
class Entry:
    """One member of a submission, read from an archive or a folder."""

    name: str  # as the student's tool wrote it (decoded), for messages
    parts: tuple[str, ...]  # the checked relative path
    is_dir: bool
    size: int = 0  # as declared; the bytes are counted again while they stream
    chunks: Callable[[], Iterator[bytes]] = lambda: iter(())  # the contents, read once, in order


class Tree:
    """The destination folder: creates folders and files strictly inside it and enforces the caps."""

    def __init__(self, dest: Path, caps: Caps) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise ValueError(f"the destination {dest} is not empty")
        self.root = dest.resolve()
        self.caps = caps
        self.members = 0
        self.read_bytes = 0  # everything read, junk included: what the caps count
        self.files = 0  # what was written
        self.bytes = 0
        self._folders: set[tuple[str, ...]] = {()}
        self.checkpoint_notebooks: list[Path] = []  # left out, as they would lie under the root

    def add(self, entry: Entry) -> None:
        """Store one member (junk is read and counted, not written); `Rejected` past a cap."""
        self.members += 1
        if self.members > self.caps.max_files:
            raise Rejected(reasons.too_many_members(self.caps.max_files))
        keep = not is_junk(entry.parts)
        if not entry.is_dir and is_checkpoint_notebook(entry.parts):
            self.checkpoint_notebooks.append(self.root.joinpath(*entry.parts))
        if entry.is_dir:
            if keep:
                self._folder(entry.parts)
            return
        if not entry.parts:
            raise Rejected(reasons.unsafe_name(entry.name, "空文件名", "empty name"))
        self._check(entry.name, entry.size)  # refuse a bomb that declares its size before reading it
        out = self._create(entry.parts) if keep else None
        size = 0
        try:
            for chunk in entry.chunks():
                size += len(chunk)
                self._check(entry.name, size)  # before writing: never more than the caps on disk
                if out is not None:
                    out.write(chunk)
        finally:
            if out is not None:
                out.close()
        self.read_bytes += size
        if keep:
            self.files += 1
            self.bytes += size

    def clear(self) -> None:
        """Remove everything written (the tree holds only folders and files it made itself)."""
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def _check(self, name: str, size: int) -> None:
        if size > self.caps.max_file_bytes:
            raise Rejected(reasons.file_too_large(name, self.caps.max_file_bytes))
        if self.read_bytes + size > self.caps.max_total_bytes:
            raise Rejected(reasons.total_too_large(self.caps.max_total_bytes))

    def _folder(self, parts: tuple[str, ...]) -> Path:
        path = self.root
        for depth, part in enumerate(parts, 1):
            path = path / part
            if parts[:depth] in self._folders:
                continue
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                # lstat: a link (we never make one) or a file in the way is a conflict, not a folder to enter.
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise Rejected(reasons.conflict("/".join(parts[:depth]))) from None
            self._folders.add(parts[:depth])
        return path

    def _create(self, parts: tuple[str, ...]) -> BinaryIO:
        path = self._folder(parts[:-1]) / parts[-1]
        try:
            fd = os.open(path, _CREATE, 0o644)
        except FileExistsError:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise Rejected(reasons.conflict("/".join(parts))) from None
            os.unlink(path)  # a later member of the same name wins, as with tar itself
            fd = os.open(path, _CREATE, 0o644)
        return os.fdopen(fd, "wb")
