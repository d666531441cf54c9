"""Intake: archives that must be refused (unsafe, corrupt, empty, oversized, bombs), with nothing
written outside the destination and the destination left empty."""

from __future__ import annotations

import contextlib
import gzip
import io
import stat
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from grader.intake import Caps, Rejected, unpack
from grader.intake.tree import Entry, Tree

from .test_intake import KIT, kit, raw_zip, source, stored, write_tar

ZEROS_MB = 200


@pytest.fixture
def out(tmp_path):
    """The parent of the destination: after a rejection it must hold only the (empty) destination."""
    parent = tmp_path / "out"
    parent.mkdir()
    yield parent
    assert [p.name for p in parent.iterdir()] == ["dest"]
    assert list((parent / "dest").iterdir()) == []


def refused(archive: Path, out: Path, caps: Caps | None = None) -> str:
    with pytest.raises(Rejected) as caught:
        unpack(source(archive), out / "dest", caps or Caps())
    return caught.value.reason.en


def member(name: str, kind: bytes = tarfile.REGTYPE, **fields) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def tar_with(path: Path, *extra: tarfile.TarInfo) -> Path:
    """The kit, then `extra` members with no data (links, devices)."""
    write_tar(path, kit(), mode="w")
    with tarfile.open(path, "a") as tar:
        for info in extra:
            tar.addfile(info)
    return path


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """Tar members without the end-of-archive blocks, to prefix hand-made streams."""
    data = b""
    for name, content in files.items():
        info = member(name, size=len(content))
        data += info.tobuf(tarfile.GNU_FORMAT) + content + bytes(-len(content) % tarfile.BLOCKSIZE)
    return data


def gzip_of_zeros(megabytes: int) -> bytes:
    """`megabytes` of zeros as concatenated gzip members: ~1 KB per MB, built in milliseconds."""
    return gzip.compress(bytes(2**20), 9) * megabytes


def deflate_of_zeros(megabytes: int) -> bytes:
    """One raw deflate stream of `megabytes` of zeros (full flushes make each MB's bytes identical)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = squeeze.compress(bytes(2**20)) + squeeze.flush(zlib.Z_FULL_FLUSH)
    return block * megabytes + squeeze.flush()


@contextlib.contextmanager
def file_size_limit(limit: int):
    """No file may grow past `limit` bytes meanwhile (RLIMIT_FSIZE): proves the bombs are not written."""
    resource = pytest.importorskip("resource")
    import signal

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it then fails, not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


# Unsafe names ---------------------------------------------------------------------------------------

DOTS = "'..' or a name made only of dots and spaces"
UNSAFE = [
    ("../escaped.py", DOTS),
    ("week-06/../../escaped.py", DOTS),
    ("..\\escaped.py", DOTS),
    ("week-06/.. /escaped.py", DOTS),
    ("C:\\escaped.py", "Windows drive letter"),
    ("C:escaped.py", "Windows drive letter"),
    ("\\\\server\\share\\escaped.py", "absolute path"),
    ("week-06/" + "x" * 300, "name too long"),
]


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize(("name", "why"), UNSAFE)
def test_unsafe_names_are_refused(tmp_path, out, fmt, name, why):
    files = {**kit(), name: b"print('escaped')"}
    if fmt == "tar":
        archive = write_tar(tmp_path / "sub.tar", files, mode="w", format=tarfile.GNU_FORMAT)
    else:
        archive = raw_zip(tmp_path / "sub.zip", [stored(n.encode(), c if isinstance(c, bytes) else c.encode())
                                                 for n, c in files.items()])
    reason = refused(archive, out)
    assert reason.startswith(f"The archive contains an unsafe path {name!r}"[:60])
    assert reason.endswith(f"({why}); refused for safety.")


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_absolute_names_are_refused_and_not_written(tmp_path, out, fmt):
    target = str(out / "escaped.py")  # where it would land if the name were honoured
    if fmt == "tar":
        archive = tar_with(tmp_path / "sub.tar", member(target))
    else:
        archive = raw_zip(tmp_path / "sub.zip", [stored(target.encode(), b"x")])
    assert "(absolute path)" in refused(archive, out)


def test_a_nul_in_a_name_is_refused(tmp_path, out):
    archive = raw_zip(tmp_path / "sub.zip", [stored(b"week-06/ok.py\0../../escaped.py", b"x")])
    assert "contains a NUL character" in refused(archive, out)


# Links and special files ----------------------------------------------------------------------------

def test_a_symlink_out_of_the_tree_is_refused_before_anything_goes_through_it(tmp_path, out):
    link = member("week-06/data", tarfile.SYMTYPE, linkname=str(out))
    archive = tar_with(tmp_path / "sub.tar", link, member("week-06/data/escaped.py"))
    assert f"symbolic link 'week-06/data' -> {str(out)!r}" in refused(archive, out)


def test_a_hard_link_is_refused(tmp_path, out):
    hard = member("week-06/passwd", tarfile.LNKTYPE, linkname="/etc/passwd")
    archive = tar_with(tmp_path / "sub.tar", hard)
    assert "hard link 'week-06/passwd' -> '/etc/passwd'" in refused(archive, out)


@pytest.mark.parametrize(("kind", "label"), [(tarfile.CHRTYPE, "character device"),
                                              (tarfile.BLKTYPE, "block device"), (tarfile.FIFOTYPE, "FIFO")])
def test_devices_and_fifos_are_refused(tmp_path, out, kind, label):
    archive = tar_with(tmp_path / "sub.tar", member("week-06/dev", kind, devmajor=1, devminor=3))
    assert f"special file 'week-06/dev' ({label})" in refused(archive, out)


@pytest.mark.parametrize(("mode", "expected"), [(stat.S_IFLNK | 0o777, "symbolic link 'week-06/link'"),
                                                (stat.S_IFIFO | 0o644, "special file 'week-06/link' (FIFO)")])
def test_zip_links_and_special_files_are_refused(tmp_path, out, mode, expected):
    archive = raw_zip(tmp_path / "sub.zip", [stored(b"week-06/link", b"/etc/passwd", external=mode << 16)])
    assert expected in refused(archive, out)


def test_a_password_protected_zip_is_refused(tmp_path, out):
    archive = raw_zip(tmp_path / "sub.zip", [stored(b"week-06/Assignment.ipynb", b"\x99" * 40, flags=0x1)])
    assert "is password-protected" in refused(archive, out)


def test_a_name_that_is_both_file_and_folder_is_refused(tmp_path, out):
    files = {**kit(), "week-06/unet/x": "file", "week-06/unet/x/y.py": ""}
    archive = write_tar(tmp_path / "sub.tar.gz", files)
    assert "holds 'week-06/unet/x' both as a file and as a folder" in refused(archive, out)


# Corrupt, empty, foreign ----------------------------------------------------------------------------

def test_a_truncated_gzip_is_refused(tmp_path, out):
    whole = write_tar(tmp_path / "whole.tar.gz", kit(big=bytes(range(256)) * 400)).read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    assert "The archive is damaged or unreadable (EOFError" in refused(tmp_path / "cut.tar.gz", out)


def test_a_truncated_zip_is_refused(tmp_path, out):
    with zipfile.ZipFile(tmp_path / "whole.zip", "w") as zf:
        for name, content in kit().items():
            zf.writestr(name, content)
    (tmp_path / "cut.zip").write_bytes((tmp_path / "whole.zip").read_bytes()[:-30])
    assert "damaged or unreadable (BadZipFile" in refused(tmp_path / "cut.zip", out)


def test_a_zip_with_damaged_data_is_refused(tmp_path, out):
    content = b"".join(b"line %d\n" % i for i in range(5000))
    packed = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = bytearray(packed.compress(content) + packed.flush())
    data[len(data) // 2] ^= 0xFF
    archive = raw_zip(tmp_path / "sub.zip", [{**stored(b"week-06/unet/x.py", content), "method": 8,
                                              "data": bytes(data)}])
    assert "damaged or unreadable" in refused(archive, out)


def test_a_gzip_that_holds_no_tar_is_refused(tmp_path, out):
    (tmp_path / "nb.tar.gz").write_bytes(gzip.compress(b"{not a tar}" * 100))
    assert "damaged or unreadable (ReadError" in refused(tmp_path / "nb.tar.gz", out)


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "The file is empty (0 bytes)."),
    (bytes(range(256)) * 8, "Not a recognised archive"),
    (b"Rar!\x1a\x07\x01\x00" + bytes(100), "RAR archives are not accepted"),
    (b"7z\xbc\xaf\x27\x1c" + bytes(100), "7z archives are not accepted"),
])
def test_empty_random_and_foreign_files_are_refused(tmp_path, out, content, expected):
    (tmp_path / "sub.tar.gz").write_bytes(content)
    assert expected in refused(tmp_path / "sub.tar.gz", out)


@pytest.mark.parametrize("build", ["tar", "zip", "zip-litter-only", "tar-folders-only"])
def test_archives_without_files_are_refused(tmp_path, out, build):
    path = tmp_path / "sub"
    if build == "tar":
        write_tar(path, {})
    elif build == "tar-folders-only":
        with tarfile.open(path, "w") as tar:
            tar.addfile(member("week-06/unet", tarfile.DIRTYPE))
    else:
        with zipfile.ZipFile(path, "w") as zf:
            if build == "zip-litter-only":
                zf.writestr("__MACOSX/week-06/._Assignment.ipynb", b"\0")
    assert refused(path, out) == "The submission contains no files."


# Caps and bombs -------------------------------------------------------------------------------------

def test_a_gzip_bomb_member_is_refused_unwritten_and_fast(tmp_path, out):
    header = member("week-06/data.bin", size=ZEROS_MB * 2**20).tobuf(tarfile.GNU_FORMAT)
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(tar_bytes({k: v.encode() for k, v in kit().items()}) + header)
                        + gzip_of_zeros(ZEROS_MB) + gzip.compress(bytes(1024)))
    assert archive.stat().st_size < 300 * 2**10
    started = time.monotonic()
    with file_size_limit(16 * 2**20):
        reason = refused(archive, out)
    assert time.monotonic() - started < 5
    assert reason == "'week-06/data.bin' is larger than the 100 MB limit for one file."


def test_an_oversized_tar_header_is_refused_without_reading_it_into_memory(tmp_path, out):
    pax = member("././@PaxHeader", tarfile.XHDTYPE, size=ZEROS_MB * 2**20).tobuf(tarfile.GNU_FORMAT)
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(tar_bytes({k: v.encode() for k, v in kit().items()}) + pax)
                        + gzip_of_zeros(ZEROS_MB))
    tracemalloc.start()
    try:
        reason = refused(archive, out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason == "An archive header is larger than 4 MB (looks like a decompression bomb)."
    assert peak < 32 * 2**20


def test_tar_headers_count_against_the_budget(tmp_path, out):
    archive = tmp_path / "sub.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(3):
            info = member(f"week-06/{i}.txt", pax_headers={"comment": "x" * 2**20})
            tar.addfile(info, io.BytesIO(b""))
    assert "unpacks to more than 1 MB" in refused(archive, out, Caps(max_total_bytes=2**20, max_files=10))


def understating_zip_bomb(path: Path, crc_of_megabytes: float) -> Path:
    """A zip member whose headers say 1000 bytes over a deflate stream of ZEROS_MB of zeros."""
    crc = 0
    for _ in range(int(crc_of_megabytes)):
        crc = zlib.crc32(bytes(2**20), crc)
    crc = zlib.crc32(bytes(int(crc_of_megabytes % 1 * 2**20)), crc)
    bomb = {**stored(b"week-06/data.bin", b""), "method": 8, "data": deflate_of_zeros(ZEROS_MB), "size": 1000,
            "crc": crc}
    archive = raw_zip(path, [stored(n.encode(), c.encode()) for n, c in kit().items()] + [bomb])
    assert archive.stat().st_size < 300 * 2**10
    return archive


def test_a_zip_bomb_that_understates_its_size_is_refused_fast(tmp_path, out):
    archive = understating_zip_bomb(tmp_path / "bomb.zip", ZEROS_MB)  # the checksum of all of it
    started = time.monotonic()
    with file_size_limit(16 * 2**20):
        reason = refused(archive, out)
    assert time.monotonic() - started < 5
    assert reason.startswith("The archive is damaged or unreadable (BadZipFile: Bad CRC-32")


def test_a_zip_bomb_whose_checksum_matches_its_claim_yields_only_what_it_claims(tmp_path):
    archive = understating_zip_bomb(tmp_path / "bomb.zip", 1000 / 2**20)
    started = time.monotonic()
    with file_size_limit(16 * 2**20):
        got = unpack(source(archive), tmp_path / "dest")
    assert time.monotonic() - started < 5
    assert (got.root / "data.bin").read_bytes() == bytes(1000)


def test_a_zip_bomb_that_declares_its_size_is_refused_before_reading(tmp_path, out):
    bomb = {**stored(b"week-06/data.bin", b""), "method": 8, "data": deflate_of_zeros(ZEROS_MB),
            "size": ZEROS_MB * 2**20}
    archive = raw_zip(tmp_path / "bomb.zip", [bomb])
    with file_size_limit(16 * 2**20):
        assert refused(archive, out) == "'week-06/data.bin' is larger than the 100 MB limit for one file."


def test_the_total_cap_stops_many_files_each_under_the_file_cap(tmp_path, out):
    files = {**kit(), **{f"week-06/data/{i}.bin": bytes(2**20) for i in range(5)}}
    archive = write_tar(tmp_path / "sub.tar.gz", files)
    caps = Caps(max_total_bytes=3 * 2**20, max_file_bytes=2 * 2**20)
    assert refused(archive, out, caps) == ("The submission unpacks to more than 3 MB "
                                           "(the limit; possibly a decompression bomb).")


def test_more_members_than_the_cap_are_refused(tmp_path, out):
    files = {**kit(), **{f"week-06/runs/{i}.log": b"" for i in range(150)}}
    archive = write_tar(tmp_path / "sub.tar.gz", files)
    caps = Caps(max_files=100)
    assert refused(archive, out, caps) == "The submission holds more than 100 files and folders (the limit)."


def test_the_caps_count_streamed_bytes_not_declared_sizes(tmp_path):
    tree = Tree(tmp_path / "dest", Caps(max_file_bytes=3 * 2**20))
    liar = Entry("big.bin", ("big.bin",), is_dir=False, size=10, chunks=lambda: iter([bytes(2**20)] * 10))
    with pytest.raises(Rejected, match="larger than the 3 MB limit"):
        tree.add(liar)
    assert (tmp_path / "dest" / "big.bin").stat().st_size <= 3 * 2**20


def test_a_good_archive_just_under_the_caps_unpacks(tmp_path):
    files = {**kit(), "week-06/data.bin": bytes(2**20)}
    size = sum(len(c) for c in files.values())
    caps = Caps(max_total_bytes=size, max_files=len(files), max_file_bytes=2**20)
    got = unpack(source(write_tar(tmp_path / "sub.tar.gz", files)), tmp_path / "dest", caps)
    assert (got.files, got.total_bytes) == (len(KIT) + 1, size)
