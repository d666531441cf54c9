"""`grade --scheduler`: the same grading on a Dask LocalCluster of two worker processes.

Grading on Dask gives the scores local workers give; a worker killed mid-task costs no submission (retried
once, then an error result); results land in the output folder as they finish; without the extra, the
option says how to install it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import intake
from grader.cli import main as cli_main
from grader.distributed import INSTALL_HINT, DaskError, grade_on_dask
from grader.progress import Progress
from grader.rubric import load
from grader.settings import RunSettings
from tests.conftest import build_submission, pack

pytestmark = pytest.mark.slow

SLOW_IMPORT = {"unet/dice_loss.py.append": "import time\n\ntime.sleep(5)  # long enough to kill its worker mid-task\n"}


def _results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/result.json")}


def _graded(result: dict) -> tuple:
    return result["status"], result["score"], [(c["id"], c["status"], c["score"]) for c in result["checks"]]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    """Three archives (correct, the Dice mistake, not an archive at all) and one folder submission."""
    tmp = tmp_path_factory.mktemp("dask")
    inbox = tmp / "inbox"
    inbox.mkdir()
    pack(build_submission(tmp / "alice"), inbox / "alice.tar.gz")
    pack(build_submission(tmp / "bob", "jaccard_dice"), inbox / "bob.tar.gz")
    (inbox / "carol.tar.gz").write_bytes(b"not an archive")
    build_submission(inbox / "dave", "jaccard_minmax")
    return inbox


def test_dask_grades_as_local_workers_do(inbox, tmp_path, capsys):
    local, dask = tmp_path / "local", tmp_path / "dask"
    common = [str(inbox), "--checks", "jaccard*", "--seed", "11", "--lang", "en"]
    assert cli_main(["grade", *common, "--out", str(local), "--workers", "2"]) == 0
    assert cli_main(["grade", *common, "--out", str(dask), "--scheduler", "local:2"]) == 0

    by_local, by_dask = _results(local), _results(dask)
    assert sorted(by_dask) == ["alice", "bob", "carol", "dave"]
    assert {k: _graded(r) for k, r in by_dask.items()} == {k: _graded(r) for k, r in by_local.items()}
    assert by_dask["alice"]["score"] == 10 and by_dask["bob"]["score"] < 10 and by_dask["carol"]["status"] == "rejected"
    assert by_dask["dave"]["submission"] == by_local["dave"]["submission"]  # a folder, sent as a tar
    assert all(r["extra"]["worker"].endswith("(local)") for r in by_local.values())
    assert all("dask worker" in r["extra"]["worker"] for r in by_dask.values())
    source_copy = Path("alice", "artifacts", "submission", "unet", "dice_loss.py")
    assert (dask / source_copy).read_bytes() == (local / source_copy).read_bytes()
    assert (dask / "alice" / "report.html").is_file() and (dask / "grades.csv").is_file()

    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in dask.glob("*/result.json")}
    assert cli_main(["grade", *common, "--out", str(dask), "--scheduler", "local:2"]) == 0
    assert "Grading 0 of 4 submission(s) (4 kept from an earlier run) on Dask" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in dask.glob("*/result.json")} == stamps


class _Killer(threading.Thread):
    """SIGKILLs the worker process running the slow submission's task, `kills` times."""

    def __init__(self, address: str, kills: int):
        super().__init__(daemon=True)
        self.address, self.kills, self.killed = address, kills, []

    def run(self) -> None:
        from distributed import Client

        def running_slow(dask_worker) -> int | None:
            busy = any("a-slow" in str(ts.key) for ts in dask_worker.state.executing)
            return os.getpid() if busy else None

        deadline = time.monotonic() + 90
        with Client(self.address, timeout=30) as client:
            while len(self.killed) < self.kills and time.monotonic() < deadline:
                for pid in client.run(running_slow, on_error="ignore").values():
                    if isinstance(pid, int) and pid not in self.killed:
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append(pid)
                time.sleep(0.2)


@pytest.mark.parametrize("kills", [1, 2])
def test_a_killed_worker_loses_no_submission(tmp_path, kills):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    pack(build_submission(tmp_path / "slow", files=SLOW_IMPORT), inbox / "a-slow.tar.gz")
    for name in ("b", "c"):
        pack(build_submission(tmp_path / name), inbox / f"{name}.tar.gz")
    settings = RunSettings(out_dir=out, work_root=tmp_path / "work", rubric=load(), seed=5, checks=["jaccard*"])
    stream = io.StringIO()
    killers: list[_Killer] = []
    seen: dict[str, float] = {}

    def echo(line: str) -> None:  # the first line names the LocalCluster's scheduler
        if line.startswith("Dask scheduler ") and not killers:
            killers.append(_Killer(line.split()[2].rstrip(":"), kills))
            killers[0].start()

    def watch() -> None:
        while not stop.is_set():
            for path in out.glob("*/result.json"):
                seen.setdefault(path.parent.name, time.monotonic())
            time.sleep(0.05)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    results, interrupted = grade_on_dask(intake.collect([inbox]), settings, "local:2",
                                         Progress(3, stream=stream, tty=False), echo=echo)
    returned = time.monotonic()
    stop.set()
    watcher.join()
    killers[0].join(timeout=30)

    assert len(killers[0].killed) == kills and not interrupted
    assert sorted(r.submission.id for r in results) == ["a-slow", "b", "c"] == sorted(_results(out))
    slow = _results(out)["a-slow"]
    if kills == 1:  # retried on a live worker and graded there
        assert _graded(slow)[:2] == ("graded", 10.0) and "dask worker" in slow["extra"]["worker"]
    else:  # the retry's worker died too: an error result a TA can act on, and no resume key
        assert slow["status"] == "graded" and [c["id"] for c in slow["checks"]] == ["grader"]
        assert slow["checks"][0]["status"] == "error"
        message = slow["checks"][0]["message"]
        assert "worker grading it died 2 times" in message and "Run the same command again" in message
        assert slow["extra"]["worker"].startswith("none (last tried on tcp://") and "resume" not in slow["extra"]
    assert all(_results(out)[k]["score"] == 10 for k in ("b", "c"))
    # as they finish: the first result was in the folder well before the last, and each had its line
    first, *_, last = sorted(seen.values())
    assert first + 1 < last <= returned
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"[{n}/3] {r.submission.id}" for n, r in enumerate(results, 1)]


def test_without_the_extra_the_option_says_how_to_install_it(inbox, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    with pytest.raises(SystemExit) as exit_:
        cli_main(["grade", str(inbox), "--out", str(tmp_path / "out"), "--scheduler", "local:2"])
    assert exit_.value.code == 2
    assert INSTALL_HINT in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    settings = RunSettings(out_dir=tmp_path / "out", work_root=tmp_path / "work", rubric=load(), seed=1)
    with pytest.raises(DaskError, match=r"pip install 'unet-grader\[dask\]'"):
        grade_on_dask(intake.collect([inbox]), settings, "local:1")


@pytest.mark.parametrize("value", ["localhost:8786", "local:0", "local:two"])
def test_a_bad_scheduler_is_a_usage_error(inbox, tmp_path, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["grade", str(inbox), "--out", str(tmp_path / "out"), "--scheduler", value])
    assert exit_.value.code == 2 and "--scheduler" in capsys.readouterr().err
