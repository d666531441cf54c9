"""Intake: formats, nesting, names, root and notebook finding, folder submissions, collect().

Every archive is built here in tmp_path from a tiny kit; the unsafe and oversized ones are in
test_intake_archives.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from grader.intake import Caps, Rejected, SubmissionSource, collect, unpack
from grader.messages import text

NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
KIT = {
    "Assignment.ipynb": NOTEBOOK,
    "unet/__init__.py": "from .unet_model import UNet\n",
    "unet/unet_model.py": "class UNet:\n    pass\n",
    "image_utils/__init__.py": "",
}


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def pack(folder: Path, archive: Path, arcname: str) -> Path:
    """Pack a folder as students' tools do: `tar -zcvf` (with folder entries) or a zipper."""
    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                zf.write(path, f"{arcname}/{path.relative_to(folder).as_posix()}")
    else:
        with tarfile.open(archive, "w" if name.endswith(".tar") else "w:gz") as tar:
            tar.add(folder, arcname=arcname)
    return archive


def write_tar(path: Path, files: dict[str, str | bytes], mode: str = "w:gz", **options) -> Path:
    with tarfile.open(path, mode, **options) as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def kit(prefix: str = "week-06/", **extra: str | bytes) -> dict[str, str | bytes]:
    return {prefix + rel: content for rel, content in {**KIT, **extra}.items()}


def stored(name: bytes, data: bytes, *, flags: int = 0, extra: bytes = b"", external: int = 0x20) -> dict:
    """One member for `raw_zip`, stored uncompressed."""
    return {"name": name, "data": data, "method": 0, "crc": zlib.crc32(data), "size": len(data),
            "flags": flags, "extra": extra, "external": external}


def raw_zip(path: Path, members: list[dict]) -> Path:
    """A zip written byte by byte, for what zipfile will not write: GBK names without the UTF-8 flag,
    links, sizes that lie."""
    body, central = b"", b""
    for m in members:
        local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, m["flags"], m["method"], 0, 0x21, m["crc"],
                            len(m["data"]), m["size"], len(m["name"]), len(m["extra"]))
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 0x0314, 20, m["flags"], m["method"], 0, 0x21,
                               m["crc"], len(m["data"]), m["size"], len(m["name"]), len(m["extra"]), 0, 0, 0,
                               m["external"], len(body)) + m["name"] + m["extra"]
        body += local + m["name"] + m["extra"] + m["data"]
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0)
    path.write_bytes(body + central + end)
    return path


def source(path: Path, kind: str = "archive") -> SubmissionSource:
    return SubmissionSource(id=path.name, path=path, kind=kind, sha256="")


# Formats and nesting --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar", ".zip"])
@pytest.mark.parametrize("arcname", ["week-06", "12345_张三/week-06", "."])
def test_every_format_and_nesting_unpacks_to_the_folder_holding_unet(tmp_path, suffix, arcname):
    folder = write_tree(tmp_path / "src" / "week-06", KIT)
    archive = pack(folder, tmp_path / f"sub{suffix}", arcname)
    got = unpack(source(archive), tmp_path / "dest")
    root = (tmp_path / "dest" / arcname).resolve()
    assert got.root == root
    assert got.notebook == root / "Assignment.ipynb"
    assert got.warnings == []
    assert (got.files, got.total_bytes) == (len(KIT), sum(len(c.encode()) for c in KIT.values()))
    assert (root / "unet" / "unet_model.py").read_text() == KIT["unet/unet_model.py"]


def test_format_is_told_by_content_not_by_name(tmp_path):
    archive = write_tar(tmp_path / "week-06.zip", kit())
    assert unpack(source(archive), tmp_path / "dest").root.name == "week-06"


def test_mac_and_jupyter_litter_is_left_out(tmp_path):
    litter = {"__MACOSX/week-06/._Assignment.ipynb": b"\0\5\26\7", "week-06/._Assignment.ipynb": b"\0\5\26\7",
              "week-06/.DS_Store": b"\0", "week-06/.ipynb_checkpoints/Assignment-checkpoint.ipynb": NOTEBOOK,
              "week-06/unet/__pycache__/unet_model.cpython-311.pyc": b"\0", "week-06/unet/stale.pyc": b"\0"}
    with zipfile.ZipFile(tmp_path / "sub.zip", "w") as zf:
        for name, content in {**kit(), **litter}.items():
            zf.writestr(name, content)
    got = unpack(source(tmp_path / "sub.zip"), tmp_path / "dest")
    written = sorted(p.relative_to(tmp_path / "dest").as_posix() for p in (tmp_path / "dest").rglob("*")
                     if p.is_file())
    assert written == sorted(kit())
    assert got.notebook == got.root / "Assignment.ipynb"
    assert [w.en for w in got.warnings] == ["Several notebooks found; grading week-06/Assignment.ipynb (ignored: "
                                            "week-06/.ipynb_checkpoints/Assignment-checkpoint.ipynb)."]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_zip_names_without_the_utf8_flag_are_decoded(tmp_path, encoding):
    members = [stored(name.encode(), content.encode()) for name, content in kit().items()]
    members.append(stored("week-06/笔记.txt".encode(encoding), "第一周".encode()))
    raw_zip(tmp_path / "sub.zip", members)
    with zipfile.ZipFile(tmp_path / "sub.zip") as zf:
        assert not any(info.flag_bits & 0x800 for info in zf.infolist())  # written unflagged, as the tools do
    got = unpack(source(tmp_path / "sub.zip"), tmp_path / "dest")
    assert (got.root / "笔记.txt").read_text(encoding="utf-8") == "第一周"


def test_a_zip_unicode_path_field_wins_over_the_raw_name(tmp_path):
    raw = "résumé.txt".encode("latin-1")  # GBK would turn these bytes into unrelated Chinese
    field = struct.pack("<B", 1) + struct.pack("<I", zlib.crc32(raw)) + "résumé.txt".encode()
    members = [stored(name.encode(), content.encode()) for name, content in KIT.items()]
    members.append(stored(raw, b"cv", extra=struct.pack("<HH", 0x7075, len(field)) + field))
    got = unpack(source(raw_zip(tmp_path / "sub.zip", members)), tmp_path / "dest")
    assert (got.root / "résumé.txt").read_bytes() == b"cv"


def test_gbk_names_in_a_tar_are_decoded(tmp_path):
    archive = write_tar(tmp_path / "sub.tar.gz", kit("作业/week-06/", **{"笔记.txt": "第一周"}),
                        format=tarfile.GNU_FORMAT, encoding="gbk")
    got = unpack(source(archive), tmp_path / "dest")
    assert got.root == (tmp_path / "dest" / "作业" / "week-06").resolve()
    assert (got.root / "笔记.txt").read_text(encoding="utf-8") == "第一周"


def test_names_neither_utf8_nor_gbk_still_unpack(tmp_path):
    archive = write_tar(tmp_path / "sub.tar", kit(**{"notes-\udcff\udcff.txt": "x"}), mode="w",
                        format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
    got = unpack(source(archive), tmp_path / "dest")
    assert [p.name for p in got.root.glob("notes-*")] == [f"notes-{bytes([255, 255]).decode('cp437')}.txt"]


def test_windows_backslash_names_are_folders(tmp_path):
    with zipfile.ZipFile(tmp_path / "sub.zip", "w") as zf:
        for name, content in kit().items():
            zf.writestr(name.replace("/", "\\"), content)
    got = unpack(source(tmp_path / "sub.zip"), tmp_path / "dest")
    assert got.root == (tmp_path / "dest" / "week-06").resolve()
    assert (got.root / "unet" / "__init__.py").is_file()


def test_a_later_member_of_the_same_name_wins_as_in_tar(tmp_path):
    with tarfile.open(tmp_path / "sub.tar", "w") as tar:
        for name, content in [*kit().items(), ("week-06/unet/unet_model.py", "fixed = True\n")]:
            info = tarfile.TarInfo(name)
            info.size = len(content.encode())
            tar.addfile(info, io.BytesIO(content.encode()))
    got = unpack(source(tmp_path / "sub.tar"), tmp_path / "dest")
    assert (got.root / "unet" / "unet_model.py").read_text() == "fixed = True\n"


# Root and notebook ----------------------------------------------------------------------------------

def unpack_files(tmp_path: Path, files: dict[str, str | bytes]):
    return unpack(source(write_tar(tmp_path / "sub.tar.gz", files)), tmp_path / "dest")


def test_the_kit_notebook_wins_over_larger_copies_and_the_warning_says_so(tmp_path):
    got = unpack_files(tmp_path, kit(**{"Assignment-Copy1.ipynb": NOTEBOOK * 3}))
    assert got.notebook == got.root / "Assignment.ipynb"
    assert [w.en for w in got.warnings] == ["Several notebooks found; grading week-06/Assignment.ipynb (ignored: "
                                            "week-06/Assignment-Copy1.ipynb)."]


def test_several_notebooks_pick_the_largest_and_warn(tmp_path):
    files = {k: v for k, v in kit(**{"Untitled.ipynb": NOTEBOOK, "作业.ipynb": NOTEBOOK + " " * 100}).items()
             if not k.endswith("Assignment.ipynb")}
    got = unpack_files(tmp_path, files)
    assert got.notebook == got.root / "作业.ipynb"
    assert len(got.warnings) == 1
    assert "Several notebooks" in got.warnings[0].en and "week-06/Untitled.ipynb" in got.warnings[0].en


def test_a_renamed_kit_notebook_beats_a_larger_other_notebook(tmp_path):
    extra = {"assignment_done.ipynb": NOTEBOOK, "scratch.ipynb": NOTEBOOK * 9}
    files = {k: v for k, v in kit(**extra).items() if not k.endswith("Assignment.ipynb")}
    assert unpack_files(tmp_path, files).notebook.name == "assignment_done.ipynb"


def test_a_notebook_without_unet_is_graded_from_its_folder_with_a_warning(tmp_path):
    got = unpack_files(tmp_path, {"hw/Assignment.ipynb": NOTEBOOK, "hw/readme.txt": "hi"})
    assert got.root == (tmp_path / "dest" / "hw").resolve()
    assert got.notebook == got.root / "Assignment.ipynb"
    assert [w.en for w in got.warnings] == ["No unet/ folder found; only the notebook hw/Assignment.ipynb "
                                            "can be graded."]


def test_unet_without_a_notebook_warns(tmp_path):
    got = unpack_files(tmp_path, {k: v for k, v in kit().items() if not k.endswith(".ipynb")})
    assert got.root.name == "week-06" and got.notebook is None
    assert "No notebook" in got.warnings[0].en


def test_a_notebook_beside_the_root_is_moved_into_it_with_a_warning(tmp_path):
    files = {k: v for k, v in kit("张三/week-06/").items() if not k.endswith(".ipynb")}
    got = unpack_files(tmp_path, {**files, "张三/Assignment.ipynb": NOTEBOOK})
    assert got.root == (tmp_path / "dest" / "张三" / "week-06").resolve()
    assert got.notebook == got.root / "Assignment.ipynb" and got.notebook.read_text() == NOTEBOOK
    assert [w.en for w in got.warnings] == ["The notebook 张三/Assignment.ipynb was outside the submission "
                                            "folder 张三/week-06/; it is graded from there."]


def test_of_several_unet_folders_the_one_beside_the_notebook_wins(tmp_path):
    got = unpack_files(tmp_path, {**kit("a/week-06/"), "backup/unet/__init__.py": ""})
    assert got.root == (tmp_path / "dest" / "a" / "week-06").resolve()
    assert "Several folders hold unet/" in got.warnings[0].en and "backup/" in got.warnings[0].en


def test_neither_unet_nor_notebook_is_rejected_naming_what_is_there(tmp_path):
    with pytest.raises(Rejected) as caught:
        unpack_files(tmp_path, {"week-06/main.py": "print()", "README.md": "hi"})
    assert "No unet/ folder and no notebook" in caught.value.reason.en
    assert "README.md, week-06/" in caught.value.reason.en
    assert list((tmp_path / "dest").iterdir()) == []


# Folder submissions ---------------------------------------------------------------------------------

def test_a_folder_is_copied_without_links_special_files_or_litter(tmp_path):
    folder = write_tree(tmp_path / "week-06", {**KIT, "__pycache__/x.pyc": b"\0", ".DS_Store": b"\0"})
    (folder / "data").symlink_to("/etc")
    os.mkfifo(folder / "pipe")
    before = sorted(p.name for p in folder.iterdir())
    got = unpack(source(folder, "folder"), tmp_path / "dest")
    assert got.root == (tmp_path / "dest").resolve()
    copied = sorted(p.relative_to(got.root).as_posix() for p in got.root.rglob("*") if p.is_file())
    assert copied == sorted(KIT)
    assert [w.en for w in got.warnings] == [
        "Skipped the symbolic link 'data' (only plain files are copied).",
        "Skipped the special file 'pipe' (only plain files are copied).",
    ]
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_folder_goes_through_the_same_caps(tmp_path):
    folder = write_tree(tmp_path / "week-06", {**KIT, **{f"runs/{i}.txt": "x" for i in range(20)}})
    with pytest.raises(Rejected, match="more than 10 files and folders"):
        unpack(source(folder, "folder"), tmp_path / "dest", Caps(max_files=10))
    assert list((tmp_path / "dest").iterdir()) == []


def test_an_unreadable_file_in_a_folder_is_a_rejection_and_a_collect_error(tmp_path, monkeypatch):
    folder = write_tree(tmp_path / "week-06", {**KIT, "unet/secret.py": "x = 1\n"})
    real_open = os.open

    def denying_open(path, *args, **kwargs):  # tests run as root here, so chmod 000 would not deny
        if str(path) == str(folder / "unet" / "secret.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denying_open)
    with pytest.raises(Rejected, match=r"Cannot read 'unet/secret.py' \(Permission denied\)"):
        unpack(source(folder, "folder"), tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []
    with pytest.raises(ValueError, match="week-06: Cannot read 'unet/secret.py'"):
        collect([folder])


def test_unpack_refuses_a_destination_inside_the_folder_or_not_empty(tmp_path):
    folder = write_tree(tmp_path / "week-06", KIT)
    with pytest.raises(ValueError, match="inside the submission folder"):
        unpack(source(folder, "folder"), folder / "graded")
    write_tree(tmp_path / "dest", {"old.txt": "x"})
    with pytest.raises(ValueError, match="not empty"):
        unpack(source(folder, "folder"), tmp_path / "dest")


# Rejected -------------------------------------------------------------------------------------------

def test_rejected_reads_both_languages_and_survives_pickling():
    exc = Rejected(text("压缩包已损坏。", "The archive is damaged."))
    assert str(exc) == "压缩包已损坏。 / The archive is damaged."
    again = pickle.loads(pickle.dumps(exc))
    assert again.reason == exc.reason and str(again) == str(exc)


# collect() ------------------------------------------------------------------------------------------

def by_id(sources):
    return {s.id: s for s in sources}


def test_ids_come_from_file_names(tmp_path):
    names = ["week-06.tar.gz", "张三 作业.zip", "李四.week06.TGZ", "CON.tar", "..hidden..zip", "plain.tar"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    got = collect([tmp_path / n for n in names])
    assert sorted(s.id for s in got) == sorted(["week-06", "张三_作业", "李四.week06", "_CON", "hidden",
                                                "plain"])
    assert [s.id for s in got] == sorted(s.id for s in got)
    assert {s.kind for s in got} == {"archive"}
    assert by_id(got)["week-06"].sha256 == hashlib.sha256(b"x").hexdigest()


def test_colliding_ids_get_suffixes_that_are_not_taken(tmp_path):
    for name in ["a.zip", "a.tar.gz", "a-2.tar", "Bob.zip", "bob.tgz"]:
        (tmp_path / name).write_bytes(name.encode())
    got = {s.path.name: s.id for s in collect([tmp_path])}
    assert got == {"a-2.tar": "a-2", "a.tar.gz": "a", "a.zip": "a-3", "Bob.zip": "Bob", "bob.tgz": "bob-2"}


def test_a_folder_of_archives_expands_including_lms_style_subfolders(tmp_path):
    write_tree(tmp_path / "subs", {"alice.tar.gz": "a", "notes.txt": "not a submission", "eve.rar": "r",
                                   "12345_张三/week-06.tar.gz": "z", ".trash/old.zip": "o"})
    write_tree(tmp_path / "subs" / "bob" / "week-06", KIT)
    got = collect([tmp_path / "subs"])
    assert [(s.id, s.kind) for s in got] == [("12345_张三-week-06", "archive"), ("alice", "archive"),
                                             ("bob", "folder"), ("eve", "archive")]
    assert by_id(got)["bob"].path == tmp_path / "subs" / "bob"


def test_a_single_unpacked_folder_is_one_submission(tmp_path):
    folder = write_tree(tmp_path / "week-06", KIT)
    (got,) = collect([folder])
    assert (got.id, got.kind, got.path) == ("week-06", "folder", folder)
    assert collect([folder, tmp_path / "." / "week-06"]) == [got]  # the same folder twice is one submission


def test_a_folder_hash_covers_paths_and_contents_but_not_location_or_litter(tmp_path):
    one = write_tree(tmp_path / "one" / "week-06", KIT)
    two = shutil.copytree(one, tmp_path / "two" / "week-06")
    digest = collect([one])[0].sha256
    assert collect([two])[0].sha256 == digest
    write_tree(two, {"unet/__pycache__/unet_model.cpython-311.pyc": b"\0"})
    assert collect([two])[0].sha256 == digest
    (two / "unet" / "unet_model.py").write_text("class UNet:\n    pass  # edited\n")
    assert collect([two])[0].sha256 != digest
    (two / "unet" / "unet_model.py").rename(two / "unet" / "model.py")
    assert collect([two])[0].sha256 not in (digest, collect([one])[0].sha256)


def test_collect_rejects_a_missing_path_and_finds_nothing_in_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no-such.tar.gz: no such file or folder"):
        collect([tmp_path / "no-such.tar.gz"])
    (tmp_path / "empty").mkdir()
    assert collect([tmp_path / "empty"]) == []
