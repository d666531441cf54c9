"""Quotas: a run's writes stop at its tmpfs caps (the host disk is untouched), and its CPU at its quota."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from grader import sandbox
from grader.sandbox import Limits, bubblewrap, cgroups

MIB = 1 << 20

WRITER = """
    import json, os, sys
    written = {}
    chunk = b"x" * (16 << 20)
    for folder in sys.argv[1:]:
        total = 0
        try:
            with open(os.path.join(folder, "fill"), "wb", buffering=0) as fh:
                while total < (3 << 30):  # 3 GiB, in seconds if nothing stops it
                    total += fh.write(chunk)
        except OSError as exc:
            written[folder] = [total, exc.strerror]
        else:
            written[folder] = [total, "no error"]
    print(json.dumps(written))
"""


@pytest.fixture
def bwrap():
    found = sandbox.probe()
    assert found.bubblewrap, f"these tests need a working bubblewrap: {bubblewrap.problem()}"
    return found


def box(tmp_path: Path) -> Path:
    for name in ("submission", "lib", "scratch"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_writing_3_gib_stops_at_the_caps(tmp_path, bwrap):
    root = box(tmp_path)
    disk_before = shutil.disk_usage(root).used
    limits = Limits(timeout_s=60, scratch_mb=96, tmp_mb=64, max_file_mb=4096)
    folders = ["/sandbox/scratch", "/tmp", "/dev/shm", "/sandbox/submission", "/sandbox"]
    outcome = sandbox.run(root, [sys.executable, "-c", textwrap.dedent(WRITER), *folders], limits=limits,
                          scratch=["scratch"])
    written = json.loads(outcome.output)
    assert written["/sandbox/scratch"] == [96 * MIB, "No space left on device"]
    assert written["/tmp"] == [64 * MIB, "No space left on device"]
    assert written["/dev/shm"] == [64 * MIB, "No space left on device"]
    assert written["/sandbox/submission"] == [0, "Read-only file system"]
    assert written["/sandbox"] == [0, "Read-only file system"]
    assert "writes only to tmpfs (/tmp and /dev/shm 64 MiB each, scratch 96 MiB)" in outcome.isolation
    assert sorted(p.name for p in root.rglob("*")) == ["lib", "scratch", "submission"]
    assert shutil.disk_usage(root).used - disk_before < 64 * MIB  # other helpers write too; 3 GiB did not land


def test_cpu_quota_holds_a_fork_bomb_of_busy_loops(tmp_path, bwrap):
    """Eight busy processes share the run's quota, so a classmate graded beside them keeps the rest.

    A tenth of a CPU, so that even on a busy machine an unthrottled run would use far more.
    """
    support = cgroups.support()
    assert "cpu" in support.parents, f"this machine has no usable cpu controller: {support.describe()}"
    code = """
        import os, time
        start = time.monotonic()
        for _ in range(8):
            if os.fork() == 0:
                while time.monotonic() - start < 3:
                    pass
                os._exit(0)
        for _ in range(8):
            os.wait()
        wall = time.monotonic() - start
        t = os.times()
        print(wall, t.children_user + t.children_system)
    """
    outcome = sandbox.run(box(tmp_path), [sys.executable, "-c", textwrap.dedent(code)],
                          limits=Limits(timeout_s=30, cpus=0.1))
    wall, cpu = map(float, outcome.output.split())
    assert "cpu 0.1 CPU" in outcome.isolation
    assert cpu < 0.15 * wall, f"{cpu:.2f} CPU-seconds in {wall:.2f} s: more than the quota"


@pytest.mark.parametrize("version, files", [
    ("v1", {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "150000", "cpu.shares": "1024"}),
    ("v2", {"cpu.max": "150000 100000", "cpu.weight": "100"}),
])
def test_cpu_quota_files(tmp_path, version, files):
    """Both cgroup versions get a hard quota of `cpus` CPUs and the same weight for every run."""
    support = cgroups.Support(version, {"cpu": tmp_path}, "")
    group = cgroups.RunGroup(support, "run", Limits(cpus=1.5))
    assert {name: (tmp_path / "run" / name).read_text() for name in files} == files
    assert group.describe() == f"cgroup {version} cpu 1.5 CPU"


def test_missing_cpu_controller_is_said(tmp_path):
    support = cgroups.Support("v1", {"memory": tmp_path / "m", "pids": tmp_path / "p"}, "no cpu hierarchy")
    for folder in support.parents.values():
        folder.mkdir()
    group = cgroups.RunGroup(support, "run", Limits(memory_mb=300, max_pids=20))
    assert support.describe() == "cgroup v1 memory+pids (no cpu hierarchy)"
    assert group.describe() == "cgroup v1 memory 300 MiB / pids 20 / no CPU quota"


def test_a_refused_cpu_quota_keeps_the_other_limits(tmp_path, monkeypatch):
    """v1 refuses a quota above the grader's own group's (EINVAL): memory and pids must still hold."""
    support = cgroups.Support("v1", {"memory": tmp_path / "m", "cpu": tmp_path / "c"}, "")
    for folder in support.parents.values():
        folder.mkdir()
    real = Path.write_text

    def refuse(self, data, *args, **kwargs):
        if self.name == "cpu.cfs_period_us":  # the first cpu file written: a fake folder stays empty
            raise OSError(22, "Invalid argument", str(self))
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse)
    group = cgroups.RunGroup(support, "run", Limits(memory_mb=300))
    assert (tmp_path / "m" / "run" / "memory.limit_in_bytes").read_text() == str(300 * MIB)
    assert not (tmp_path / "c" / "run").exists() and list(group.folders) == ["memory"]
    assert group.describe() == "cgroup v1 memory 300 MiB / no CPU quota (cpu.cfs_period_us: Invalid argument)"
