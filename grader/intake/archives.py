"""Reading tar and zip archives member by member: every member is checked before it is yielded.

Nothing here writes to disk and nothing uses tarfile's extract methods; `tree.Tree` writes. A gzip
stream is read through a byte budget, so a decompression bomb stops after at most the caps' worth.
"""

from __future__ import annotations

import contextlib
import gzip
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO

from ..messages import Text
from . import reasons
from .model import Caps
from .names import safe_parts, tar_name, zip_name
from .reasons import Rejected
from .tree import Entry

CHUNK = 1 << 16
HEADER_BYTES = 4 * 2**20  # the most one tar header may take (long names, pax records, macOS xattrs)
MEMBER_OVERHEAD = 16 * 2**10  # header and padding bytes allowed per member on top of the data

# Whatever a damaged archive raises, at any layer (gzip, zlib, tarfile, zipfile, the file itself).
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                NotImplementedError, UnicodeDecodeError)

_FOREIGN = ((b"Rar!\x1a\x07", "RAR"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"BZh", "bzip2"),
            (b"\xfd7zXZ\x00", "xz"))
_CHR, _BLK, _FIFO = ("字符设备", "character device"), ("块设备", "block device"), ("命名管道", "FIFO")
_TAR_SPECIAL = {tarfile.CHRTYPE: _CHR, tarfile.BLKTYPE: _BLK, tarfile.FIFOTYPE: _FIFO}
_SOCK = ("套接字", "socket")
_ZIP_SPECIAL = {stat.S_IFCHR: _CHR, stat.S_IFBLK: _BLK, stat.S_IFIFO: _FIFO, stat.S_IFSOCK: _SOCK}
_ZIP_ENCRYPTED = 0x1
_DOS_DIRECTORY = 0x10


def archive_entries(path: Path, caps: Caps) -> Iterator[Entry]:
    """The members of the archive at `path`, told apart by content rather than by file name."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        raise Rejected(reasons.empty_file())
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        yield from _zip_entries(path)
    elif head.startswith(b"\x1f\x8b") or head[257:262] == b"ustar":
        yield from _tar_entries(path, head.startswith(b"\x1f\x8b"), caps)
    else:
        for magic, label in _FOREIGN:
            if head.startswith(magic):
                raise Rejected(reasons.unsupported_format(label))
        raise Rejected(reasons.not_an_archive())


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    except _READ_ERRORS as exc:
        raise Rejected(reasons.corrupt(f"{type(exc).__name__}: {exc}"[:200])) from exc


def _chunks(open_member: Callable[[], BinaryIO]) -> Iterator[bytes]:
    with _reading():
        stream = open_member()
    with stream:
        while True:
            with _reading():
                chunk = stream.read(CHUNK)
            if not chunk:
                return
            yield chunk


class _Budget:
    """A read-only stream that delivers at most a budget of (decompressed) bytes, then `Rejected`."""

    def __init__(self, raw: BinaryIO, limit: int, reason: Text) -> None:
        self._raw = raw
        self._left = limit
        self._reason = reason

    def read(self, n: int = -1) -> bytes:
        want = self._left + 1 if n < 0 else min(n, self._left + 1)  # one byte over is enough to tell
        data = self._raw.read(want)
        self._left -= len(data)
        if self._left < 0:
            raise Rejected(self._reason)
        return data

    @contextlib.contextmanager
    def header(self) -> Iterator[None]:
        """A tighter budget while tarfile reads a header, which it holds whole in memory."""
        saved, reason = self._left, self._reason
        allowance = min(saved, HEADER_BYTES)
        if allowance < saved:
            self._reason = reasons.header_too_large(HEADER_BYTES)
        self._left = allowance
        try:
            yield
        finally:
            self._left, self._reason = saved - (allowance - self._left), reason


def _tar_entries(path: Path, gzipped: bool, caps: Caps) -> Iterator[Entry]:
    budget = caps.max_total_bytes + (caps.max_files + 1) * MEMBER_OVERHEAD
    with open(path, "rb") as f, (gzip.GzipFile(fileobj=f) if gzipped else contextlib.nullcontext(f)) as raw:
        stream = _Budget(raw, budget, reasons.total_too_large(caps.max_total_bytes))
        # Stream mode ("r|"): one forward pass, members as they come; nothing seeks back or loads it all.
        with _reading(), stream.header():
            tar = tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape")
        with tar:
            members = iter(tar)
            while True:
                with _reading(), stream.header():
                    info = next(members, None)
                if info is None:
                    return
                yield _tar_entry(tar, info)


def _tar_entry(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Entry:
    name = tar_name(info.name)
    parts = safe_parts(name)
    if info.isdir():
        return Entry(name, parts, is_dir=True)
    if info.isreg():
        return Entry(name, parts, is_dir=False, size=info.size,
                     chunks=partial(_chunks, partial(tar.extractfile, info)))
    if info.issym() or info.islnk():
        raise Rejected(reasons.link(name, tar_name(info.linkname), hard=info.islnk()))
    zh, en = _TAR_SPECIAL.get(info.type, ("未知类型", f"entry type {info.type!r}"))
    raise Rejected(reasons.special(name, zh, en))


def _zip_entries(path: Path) -> Iterator[Entry]:
    with _reading():
        archive = zipfile.ZipFile(path)
    with archive:
        for info in archive.infolist():
            yield _zip_entry(archive, info)


def _zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Entry:
    name = zip_name(info)
    parts = safe_parts(name)
    kind = stat.S_IFMT(info.external_attr >> 16)  # Unix tools keep st_mode in the high 16 bits
    if kind == stat.S_IFLNK:
        raise Rejected(reasons.link(name, None, hard=False))
    if kind in _ZIP_SPECIAL:
        zh, en = _ZIP_SPECIAL[kind]
        raise Rejected(reasons.special(name, zh, en))
    if info.flag_bits & _ZIP_ENCRYPTED:
        raise Rejected(reasons.encrypted(name))
    is_dir = (name.endswith(("/", "\\")) or kind == stat.S_IFDIR
              or (kind == 0 and bool(info.external_attr & _DOS_DIRECTORY)))
    if is_dir:
        return Entry(name, parts, is_dir=True)
    return Entry(name, parts, is_dir=False, size=info.file_size,
                 chunks=partial(_chunks, partial(archive.open, info)))
