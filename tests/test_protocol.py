"""The supervisor protocol: one framing with caps both ways, a channel parsed into validated StageOutputs,
and the sandbox's stdin feeder and fd 3 channel, with and without bubblewrap."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from grader import protocol, sandbox
from grader.checks.base import CheckContext, OutputError, read_channel
from grader.checks.jaccard import JaccardGroup
from grader.rubric import load
from grader.sandbox import Isolation, Limits, cgroups, isolation
from grader.stagerun import run_trusted, start_trusted
from tests.conftest import build_submission


def _frame(header: dict, body: bytes = b"") -> bytes:
    out = io.BytesIO()
    protocol.write_frame(out, header, body)
    return out.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _stage(name: str, files: dict[str, bytes], state: str = "ok") -> bytes:
    data = b"".join(_frame({"kind": "file", "stage": name, "name": n}, b) for n, b in files.items())
    data += _frame({"kind": "log", "stage": name, "dropped": 0}, b"hello")
    return data + _frame({"kind": "status", "stage": name, "state": state, "exit": 0, "wall_s": 1.5, "cpu_s": 1.0})


def test_a_stage_frame_round_trips_and_its_buffer_can_be_zeroed():
    header, parts = protocol.StageInput("jaccard", {"cases": ["a"]}, {"a_input.npy": b"\x93NUMPY"}).frame()
    stream = io.BytesIO(_frame(header, parts))
    got, body = protocol.read_frame(stream, protocol.MAX_INPUT_BYTES)
    files = protocol.split_files(got, body)
    assert bytes(files["task.json"]) == b'{"cases": ["a"]}' and bytes(files["a_input.npy"]) == b"\x93NUMPY"
    body[:] = bytes(len(body))
    assert set(body) == {0}


@pytest.mark.parametrize("name", ["../task.json", "a/b.npy", ".hidden", "", "x" * 200])
def test_input_names_must_be_plain_file_names(name):
    with pytest.raises(protocol.ProtocolError):
        protocol.StageInput("s", {}, {name: b""}).frame()


def test_a_frame_over_its_cap_or_cut_short_is_refused():
    big = _frame({"kind": "stage", "name": "s", "files": []}, b"x" * 100)
    with pytest.raises(protocol.ProtocolError, match="over the cap"):
        protocol.read_frame(io.BytesIO(big), 50)
    with pytest.raises(protocol.ProtocolError, match="ended"):
        protocol.read_frame(io.BytesIO(big[:-1]), 1000)
    huge_header = struct.pack(">I", protocol.MAX_HEADER_BYTES + 1) + b"{" * 10
    with pytest.raises(protocol.ProtocolError):
        protocol.read_frame(io.BytesIO(huge_header), 1000)


def test_the_channel_becomes_validated_outputs():
    records = b'{"case": "a", "ok": true}\nnot json\n{"case": 3}\n'
    data = _stage("s", {"records.jsonl": records, "a.npy": _npy(np.arange(6.0).reshape(2, 3))})
    out = read_channel(data, ["s"])["s"]
    assert out.state == "ok" and out.status["wall_s"] == 1.5 and out.status["cpu_s"] == 1.0
    assert out.records() == {"a": {"case": "a", "ok": True}}
    assert out.array("a", shape=(2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert out.log() == "hello"
    assert out.file_bytes("records.jsonl", 10) is None and out.file_bytes("records.jsonl", 100) == records
    with pytest.raises(OutputError, match="shape"):
        out.array("a", shape=(3, 2))
    with pytest.raises(OutputError, match="no output"):
        out.array("b")


def test_a_pickled_array_is_refused():
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    out = read_channel(_stage("s", {"obj.npy": buf.getvalue()}), ["s"])["s"]
    with pytest.raises(OutputError, match="unreadable"):
        out.array("obj")


def test_a_supervisor_killed_mid_way_leaves_later_stages_unpassed():
    whole = _stage("first", {"records.jsonl": b'{"case": "a", "ok": true}\n'})
    cut = _frame({"kind": "file", "stage": "second", "name": "records.jsonl"}, b'{"case": "a", "ok": true}\n')
    truncated = _frame({"kind": "file", "stage": "first", "name": "late.npy"}, b"x" * 1000)[:-10]
    outputs = read_channel(whole + cut + truncated, ["first", "second", "third"])
    assert outputs["first"].state == "ok" and "a" in outputs["first"].records()
    assert outputs["second"].state == "crashed" and outputs["second"].records() == {}
    assert outputs["third"].state == "not_run"


def test_forged_frames_cannot_name_unknown_stages_paths_or_states():
    data = _frame({"kind": "file", "stage": "other", "name": "records.jsonl"}, b'{"case": "a", "ok": true}\n')
    data += _frame({"kind": "file", "stage": "s", "name": "../../etc/passwd"}, b"root")
    data += _frame({"kind": "status", "stage": "s", "state": "passed", "exit": "0", "wall_s": float("nan")})
    data += _frame({"kind": "file", "stage": "s", "name": "after.npy"}, b"late")
    outputs = read_channel(data, ["s"])
    assert outputs["s"].files == {} and "other" not in outputs
    assert outputs["s"].status == {"state": "crashed", "exit": None, "starved": False}


FEED_AND_ANSWER = textwrap.dedent("""
    import os, sys
    data = sys.stdin.buffer.read()
    with os.fdopen(3, "wb") as channel:
        channel.write(data[::-1] * 3)
    print("done", flush=True)
""")


@pytest.fixture(params=["bubblewrap", "weaker"])
def mode(request, monkeypatch):
    """Both ways the sandbox runs: under bubblewrap where it works here, and the weaker mode without it."""
    if request.param == "weaker":
        found = Isolation(bubblewrap=False, cgroup=cgroups.support().version, description="WEAKER: test")
        monkeypatch.setattr(isolation, "probe", lambda: found)
    else:
        assert sandbox.probe().bubblewrap, "this machine's bubblewrap does not work"
    return request.param


def test_stdin_is_fed_and_fd3_comes_back(tmp_path, mode):
    (tmp_path / "box").mkdir()
    payload = bytes(range(256)) * 4096  # 1 MiB: more than a pipe holds, both ways

    def feed(stream):
        stream.write(payload)

    outcome = sandbox.run(tmp_path / "box", [sys.executable, "-c", FEED_AND_ANSWER], limits=Limits(timeout_s=30),
                          stdin=feed, channel=True)
    assert outcome.returncode == 0 and outcome.output == "done\n"
    assert outcome.channel == payload[::-1] * 3 and not outcome.channel_truncated


def test_the_channel_is_capped_and_a_child_that_never_reads_does_not_block(tmp_path, mode):
    (tmp_path / "box").mkdir()
    code = "import os; os.write(3, b'x' * 5_000_000); os.close(0)"
    start = time.monotonic()
    outcome = sandbox.run(tmp_path / "box", [sys.executable, "-c", code],
                          limits=Limits(timeout_s=30, max_channel_bytes=1000), stdin=lambda s: s.write(b"y" * 10**8),
                          channel=True)
    assert time.monotonic() - start < 25
    assert outcome.returncode == 0 and outcome.channel == b"x" * 1000 and outcome.channel_truncated


SPIN = "while True:  # an import that never finishes, busy\n    pass\n"
SLEEP = "import time\n\nwhile True:  # an import that never finishes, asleep\n    time.sleep(1)\n"


def _stopped_stage(tmp_path, module: str, *, hogs: int) -> dict:
    """The Jaccard stage of a submission whose module never finishes importing, stopped by a 4 s deadline,
    with the supervisor and `hogs` busy processes all pinned to one CPU."""
    sub = build_submission(tmp_path / "sub", files={"unet/dice_loss.py": module})
    ctx = CheckContext(submission_dir=sub, notebook=None, seed=1, profile="cpu", rubric=load(),
                       io_root=tmp_path / "inputs", artifacts_dir=tmp_path / "artifacts")
    stages = [dataclasses.replace(s, timeout_s=4) for s in JaccardGroup().prepare(ctx)]
    cpu = min(os.sched_getaffinity(0))
    # each hog in a session of its own: the scheduler shares a CPU between sessions first (autogroups)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True,
                             preexec_fn=lambda: os.sched_setaffinity(0, {cpu})) for _ in range(hogs)]
    try:
        def pinned(lib, args, cwd, timeout):
            allowed = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {cpu})
            try:
                start_trusted(lib, args, cwd, timeout)
            finally:
                os.sched_setaffinity(0, allowed)

        return run_trusted(tmp_path / "box", sub, stages, ctx, launch=pinned)["jaccard"].status
    finally:
        for hog in busy:
            hog.kill()
            hog.wait()


def test_a_stage_stopped_while_the_machine_starved_it_says_so(tmp_path):
    status = _stopped_stage(tmp_path, SPIN, hogs=3)
    assert status["state"] == "timeout" and status["starved"] is True
    assert status["wait_s"] > 0.5 * status["wall_s"] and status["cpu_s"] < 0.5 * status["wall_s"]


def test_a_stage_that_sleeps_past_its_deadline_is_not_starved(tmp_path):
    status = _stopped_stage(tmp_path, SLEEP, hogs=3)
    assert status["state"] == "timeout" and status["starved"] is False and status["wait_s"] < 1


def test_descriptors_passed_on_stay_open_beside_the_channel(tmp_path):
    from grader.sandbox import process

    read_end, write_end = os.pipe()
    code = f"import os; os.write(3, b'channel'); os.write({write_end}, b'passed')"
    try:
        done = process.run_tree([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin"}, cwd=str(tmp_path),
                                timeout_s=30, max_output_bytes=1000, token="test-pass-fds", prepare=lambda: None,
                                channel=True, max_channel_bytes=100, pass_fds=[write_end])
        os.close(write_end)
        assert done.returncode == 0 and done.channel == b"channel" and os.read(read_end, 100) == b"passed"
    finally:
        os.close(read_end)
