"""Stages are isolated and the parent reads nothing of the box: each attack is a fixture submission graded
by the real pipeline in the sandbox, and each gains nothing while the batch completes.

Every submission is graded once (module fixture) on the function checks; the attacks planted in
`unet/dice_loss.py` run in the Jaccard stage, the ones in `unet/unet_parts.py` in the up_add stage, and the
notebook's deconv2d in the numpy-only stage, which runs first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from grader import intake, pipeline, sandbox
from grader.rubric import load
from grader.sandbox import Isolation, cgroups, isolation
from grader.settings import RunSettings
from tests.conftest import build_submission, pack

pytestmark = pytest.mark.slow

CHECKS = ["jaccard*", "deconv2d*", "up_add*", "unet_shallow*", "unet_add*"]
SECRET = f"unet-grader-secret-{os.getpid()}"

# Replace every output of the stage, after each write, by `plant(path)`: a link to a host file or a FIFO.
_REPLACE = """
import os as _os
import sys as _sys

_io = _sys.modules["grader_runner.io"]
_record, _save = _io.StageIO.record, _io.StageIO.save


def _plant_all(out):
    for name in {{"records.jsonl", "output.log", "_status.json", "executed.ipynb", *_os.listdir(out)}}:
        path = _os.path.join(out, name)
        if _os.path.lexists(path):
            _os.unlink(path)
        {plant}


def _clear(out):
    for name in _os.listdir(out):
        path = _os.path.join(out, name)
        if not _os.path.isfile(path) or _os.path.islink(path):
            _os.unlink(path)


def _planting_record(self, case, **info):
    _clear(self.out_dir)
    _record(self, case, **info)
    _plant_all(self.out_dir)


def _planting_save(self, name, value):
    _clear(self.out_dir)
    arr = _save(self, name, value)
    _plant_all(self.out_dir)
    return arr


_io.StageIO.record, _io.StageIO.save = _planting_record, _planting_save
"""

# Without bubblewrap the box is writable: rewrite the handed-in notebook's answers after the sandbox started.
_REWRITE_ANSWERS = """
import json as _json
import os as _os

_notebook = _os.path.join(_os.getcwd(), "..", "..", "..", "submission", "Assignment.ipynb")
with open(_notebook, encoding="utf-8") as _fh:
    _nb = _json.load(_fh)
for _cell in _nb["cells"]:
    if _cell["cell_type"] == "markdown":
        _cell["source"] = "Answer (Q1) FORGED ANSWER"
with open(_notebook, "w", encoding="utf-8") as _fh:
    _json.dump(_nb, _fh)
"""

# The stage's whole output folder becomes a link to a folder outside that holds forged outputs.
_OUT_LINK = """
import os as _os

_out = _os.path.join(_os.path.dirname(_os.getcwd()), "out")
_os.rename(_out, _out + "-moved")
_os.symlink({forged!r}, _out)
"""


def _grade(archive: Path, out: Path, work: Path, checks: list[str]) -> dict:
    settings = RunSettings(out_dir=out, work_root=work, rubric=load(), seed=11, checks=checks)
    [source] = intake.collect([archive])
    return pipeline.grade(source, settings).to_dict()


def _batch(tmp: Path, names: dict[str, dict]) -> dict[str, dict]:
    results = {}
    for name, spec in names.items():
        folder = build_submission(tmp / "build" / name, spec.get("fixture"), spec.get("files"))
        archive = pack(folder, tmp / f"{name}.tar.gz")
        results[name] = _grade(archive, tmp / "out", tmp / "work", spec.get("checks", CHECKS))
    return results


@pytest.fixture(scope="module")
def host():
    """A host folder outside /tmp, visible read-only inside today's sandbox: a secret and forged outputs."""
    path = Path(tempfile.mkdtemp(prefix="unet-grader-isolation-", dir="/var/tmp"))
    (path / "secret.txt").write_text(SECRET)
    forged = path / "forged"
    forged.mkdir()
    lines = [json.dumps({"case": c, "ok": True, "note": f"FORGED {SECRET}"}) for c in ("load", "eye-eye")]
    (forged / "records.jsonl").write_text("\n".join(lines) + "\n")
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, host):
    assert sandbox.probe().bubblewrap, "these tests grade under a working bubblewrap"
    plant_link = f"_os.symlink({str(host / 'secret.txt')!r}, path)"
    return _batch(tmp_path_factory.mktemp("isolation"), {
        "correct": {},
        "links": {"files": {"unet/dice_loss.py.append": _REPLACE.format(plant=plant_link)}},
        "fifos": {"files": {"unet/dice_loss.py.append": _REPLACE.format(plant="_os.mkfifo(path)")}},
        "out_link": {"files": {"unet/dice_loss.py.append": _OUT_LINK.format(forged=str(host / "forged"))}},
        "stray_daemon": {"fixture": "stray_daemon"},
        "peek_inputs": {"fixture": "peek_inputs"},
        "deconv_torch_frames": {"fixture": "deconv_torch_frames"},
        "print_flood": {"fixture": "print_flood"},
    })


def _checks(result: dict, group: str) -> list[dict]:
    return [c for c in result["checks"] if c["id"].split("/")[0] == group]


def _full(result: dict, group: str) -> bool:
    checks = _checks(result, group)
    return bool(checks) and all(c["status"] == "passed" and c["score"] == c["max_score"] for c in checks)


def test_a_correct_submission_scores_full_function_marks(graded):
    result = graded["correct"]
    assert result["status"] == "graded"
    assert result["score"] == result["max_score"] > 0, [(c["id"], c["message"]) for c in result["checks"]]


@pytest.mark.parametrize("name", ["links", "fifos", "out_link"])
def test_planted_outputs_gain_nothing_and_leak_nothing(graded, name):
    result = graded[name]
    assert SECRET not in json.dumps(result)
    assert not any(c["status"] == "passed" for c in _checks(result, "jaccard"))
    assert all(_full(result, g) for g in ("deconv2d", "up_add", "unet_shallow", "unet_add"))
    assert result["timings"]["total"] < 60


def test_a_stray_daemon_cannot_trace_the_supervisor_nor_outlive_its_stage(graded):
    result = graded["stray_daemon"]
    logs = result["logs"]
    assert "PTRACE -1" in logs["unet_shallow"] and "MEM denied" in logs["unet_shallow"]
    assert "STRAY GONE" in logs["up_add"] and "OTHER PROCESSES 0" in logs["up_add"]
    assert "PLANTED" not in json.dumps(result)
    assert all(_full(result, g) for g in ("jaccard", "deconv2d", "up_add", "unet_shallow", "unet_add"))


def test_a_stage_sees_only_its_own_inputs_and_a_clean_tmp_and_work_copy(graded):
    logs = graded["peek_inputs"]["logs"]
    seen = next(line for line in logs["jaccard"].splitlines() if line.startswith("INPUTS SEEN"))
    assert "task.json" in seen and "eye-eye_input.npy" in seen
    assert "_x1" not in seen and "_weights" not in seen and "example" not in seen
    later = next(line for line in logs["up_add"].splitlines() if line.startswith("TMP SEEN LATER"))
    assert "left-by-jaccard" not in later
    work = next(line for line in logs["up_add"].splitlines() if line.startswith("WORK COPY"))
    assert "unet" in work and "planted-by-jaccard" not in work
    assert _full(graded["peek_inputs"], "up_add")


def test_the_numpy_only_stage_finds_no_framework_in_its_process(graded):
    result = graded["deconv_torch_frames"]
    assert "FRAMEWORK NOT FOUND" in result["logs"]["deconv2d"]
    assert "FRAMEWORK FOUND" not in result["logs"]["deconv2d"]
    hidden = next(c for c in result["checks"] if c["id"] == "deconv2d/hidden-cases")
    assert hidden["score"] == 0
    assert _full(result, "jaccard")


def test_two_million_printed_lines_cost_only_their_bytes(graded):
    result = graded["print_flood"]
    assert _full(result, "jaccard"), [c["message"] for c in _checks(result, "jaccard")]
    assert sum(len(v) for v in result["logs"].values()) < 200_000


def test_the_weaker_mode_runs_the_same_protocol(tmp_path, monkeypatch):
    found = Isolation(bubblewrap=False, cgroup=cgroups.support().version, description="WEAKER: test")
    monkeypatch.setattr(isolation, "probe", lambda: found)
    monkeypatch.setattr(sandbox, "probe", lambda: found)
    # a grader running as root without bubblewrap lets student code trace anything: no ptrace probe here
    stray = {"fixture": "stray_daemon", "files": {"unet/unet_model.py.append": ""}}
    rewrite = {"files": {"unet/dice_loss.py.append": _REWRITE_ANSWERS}, "checks": ["jaccard*", "answers*"]}
    results = _batch(tmp_path, {"correct": {}, "stray_daemon": stray, "peek_inputs": {"fixture": "peek_inputs"},
                                "rewrite_answers": rewrite})
    assert results["correct"]["score"] == results["correct"]["max_score"] > 0
    answers = [c for c in results["rewrite_answers"]["checks"] if c["id"].startswith("answers/")]
    assert answers and all(c["details"]["answer"] for c in answers)
    assert "FORGED" not in json.dumps(answers)
    assert "STRAY GONE" in results["stray_daemon"]["logs"]["up_add"]
    assert "PLANTED" not in json.dumps(results["stray_daemon"])
    assert "left-by-jaccard" not in results["peek_inputs"]["logs"]["up_add"]
