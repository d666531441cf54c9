"""`unet-grader grade` over a batch of correct, faulty, hostile and broken submissions.

One batch, graded with two workers on the Jaccard checks, covers the grading core's promises: every
submission gets a result, the expected status, nothing is written outside the submission's own space,
no process survives, and each submission's grading time is bounded by its deadlines.
"""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest

from grader.cli import main as cli_main
from tests.conftest import build_submission, pack

pytestmark = pytest.mark.slow

ESCAPE_TOKEN = f"unet-grader-escape-{os.getpid()}"


def _escape_files(port: int, targets: list[Path]) -> dict[str, str]:
    writes = "\n".join(
        f"    try:\n        open({str(t)!r}, 'w').write('escaped')\n    except OSError:\n        pass" for t in targets)
    return {"unet/dice_loss.py.append": f"""
import socket as _socket


def _escape():
{writes}
    for host in ("127.0.0.1", "1.1.1.1"):
        try:
            _socket.create_connection((host, {port}), timeout=1).sendall(b"leak")
        except OSError:
            pass


_escape()
"""}


def _tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade the whole batch once; tests below read its results."""
    tmp = tmp_path_factory.mktemp("batch")
    inbox, out, build = tmp / "inbox", tmp / "out", tmp / "build"
    inbox.mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    connections: list = []

    def accept():
        while listener.fileno() != -1:
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    outside = [Path("/tmp") / ESCAPE_TOKEN, Path.home() / ESCAPE_TOKEN, Path(__file__).parent / ESCAPE_TOKEN,
               out / ESCAPE_TOKEN, tmp / ESCAPE_TOKEN]
    faulty = ["jaccard_dice", "syntax_error_model", "import_hangs", "memory_hog", "daemon_fork", "output_flood",
              "monkeypatch_compare", "exit_mid_check"]
    pack(build_submission(build / "correct"), inbox / "correct.tar.gz")
    for name in faulty:
        pack(build_submission(build / name, name), inbox / f"{name}.tar.gz")
    escape = build_submission(build / "escape", files=_escape_files(listener.getsockname()[1], outside))
    pack(escape, inbox / "escape.tar.gz")
    with zipfile.ZipFile(inbox / "zipped.zip", "w") as zf:
        for path in (build / "correct" / "week-06").rglob("*"):
            zf.write(path, Path("12345_张三") / path.relative_to(build / "correct"))
    (inbox / "corrupt.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 50)
    _tar_with(inbox / "empty.tar.gz", [])
    _tar_with(inbox / "traversal.tar.gz", [_member("week-06/unet/x.py"), _member("../../evil.py")])
    _tar_with(inbox / "symlink.tar.gz", [_member("week-06/unet/x.py"),
                                          _member("week-06/unet/link", kind=tarfile.SYMTYPE, link="/etc/passwd")])
    _tar_with(inbox / "bomb.tar.gz", [_member("week-06/unet/zeros.bin", b"\0" * (300 * 2**20))])

    (tmp / "work").mkdir()
    tempfile.tempdir = str(tmp / "work")  # the batch's work folders, so its processes can be told apart
    try:
        code = cli_main(["grade", str(inbox), "--out", str(out), "--workers", "2", "--checks", "jaccard*",
                         "--seed", "7"])
    finally:
        tempfile.tempdir = None
    listener.close()
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    return {"code": code, "results": results, "outside": outside, "connections": connections, "out": out,
            "work": tmp / "work"}


def _total(result: dict) -> float:
    return sum(c["score"] for c in result["checks"])


def test_the_batch_completes_with_a_result_for_every_archive(batch):
    assert batch["code"] == 0
    assert len(batch["results"]) == 16


def test_result_json_follows_the_contract(batch):
    result = batch["results"]["correct"]
    assert result["schema_version"] == 1
    assert result["submission"]["id"] == "correct" and result["submission"]["source"] == "correct.tar.gz"
    assert len(result["submission"]["sha256"]) == 64
    assert result["status"] == "graded" and result["error"] is None
    assert result["score"] == _total(result) == result["max_score"] == 10
    assert {"grader_version", "device", "profile", "isolation", "seed"} <= set(result["environment"])
    assert result["environment"]["seed"] == 7
    for check in result["checks"]:
        assert {"id", "status", "score", "max_score", "message", "details"} <= set(check)
        assert check["id"].startswith("jaccard/")


@pytest.mark.parametrize("name", ["correct", "zipped", "syntax_error_model"])
def test_correct_jaccard_passes(batch, name):
    result = batch["results"][name]
    assert result["status"] == "graded"
    assert result["score"] == result["max_score"] == 10


@pytest.mark.parametrize("name", ["jaccard_dice", "monkeypatch_compare"])
def test_wrong_values_fail(batch, name):
    result = batch["results"][name]
    assert result["status"] == "graded" and result["score"] < 5


@pytest.mark.parametrize("name, word", [("import_hangs", "time limit"), ("memory_hog", "memory"),
                                        ("exit_mid_check", "no output")])
def test_hostile_code_fails_with_a_reason(batch, name, word):
    result = batch["results"][name]
    assert result["status"] == "graded" and result["score"] < result["max_score"]
    assert any(word in c["message"] for c in result["checks"]), [c["message"] for c in result["checks"]]


def test_output_flood_is_capped(batch):
    result = batch["results"]["output_flood"]
    assert sum(len(v) for v in result["logs"].values()) < 200_000


@pytest.mark.parametrize("name, word", [("corrupt", ""), ("empty", ""), ("traversal", ""), ("symlink", ""),
                                        ("bomb", "")])
def test_broken_and_unsafe_archives_are_rejected(batch, name, word):
    result = batch["results"][name]
    assert result["status"] == "rejected"
    assert result["error"] and result["score"] == 0


def test_nothing_is_written_outside(batch):
    for path in batch["outside"]:
        assert not path.exists(), f"{path} was written by a submission"
    assert not (Path("/") / "evil.py").exists()
    assert batch["connections"] == []


def test_no_process_is_left_behind(batch):
    mark = str(batch["work"]).encode()
    survivors = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # The batch's own processes: bubblewrap binds a box of this batch, or (weaker mode) the supervisor runs
        # from it; other runs on a shared machine are not this batch's.
        if mark in cmdline:
            survivors.append(cmdline)
    assert survivors == []


def test_grading_time_is_bounded_by_the_deadlines(batch):
    for name, result in batch["results"].items():
        assert result["timings"]["total"] < 60, name


def test_a_missing_path_is_a_usage_error(tmp_path, capsys):
    assert cli_main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "nope" in capsys.readouterr().err
