"""Per-run control groups: memory, process-count and CPU limits for the whole process tree, and a sure kill.

Machines differ: some mount cgroup v1 (one hierarchy per controller), others only v2 (one unified tree,
controllers enabled per subtree), and either may lack the memory or pids controller or refuse us write
access. `support()` finds, once per process, where this process may create groups; each run then gets its
own group below the grader's own, so limits set on the grader itself still apply to the sandbox.
The CPU quota (`Limits.cpus` CPUs per run, equal weight for every run) keeps a submission that starts
hundreds of busy processes from starving the ones graded beside it; tmpfs pages count as memory, so the
memory limit also bounds what a run writes to its tmpfs folders.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import leftovers
from .limits import MIB, Limits

CONTROLLERS = ("memory", "pids", "cpu")
REQUIRED = ("memory", "pids")  # a version is only chosen for these; cpu comes along where it can
_LIMIT_FILE = {("v1", "memory"): "memory.limit_in_bytes", ("v1", "pids"): "pids.max",
               ("v1", "cpu"): "cpu.cfs_quota_us", ("v2", "memory"): "memory.max", ("v2", "pids"): "pids.max",
               ("v2", "cpu"): "cpu.max"}
CPU_PERIOD_US = 100_000


class CgroupError(Exception):
    """A run's control group could not be created or configured."""


@dataclass(frozen=True)
class Support:
    """Where run groups can be made: `parents` maps each usable controller to its parent folder."""

    version: str
    parents: dict[str, Path]
    note: str

    def describe(self) -> str:
        """e.g. `cgroup v1 memory+pids` or `no cgroup (v1: no memory hierarchy; v2: ...)`."""
        if self.version == "none":
            return f"no cgroup ({self.note})"
        text = f"cgroup {self.version} {'+'.join(sorted(self.parents))}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class _Mount:
    root: str
    point: Path
    fstype: str
    options: frozenset[str]


def _unescape(field: str) -> str:
    """mountinfo writes spaces, tabs, newlines and backslashes in paths as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts() -> list[_Mount]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append(_Mount(_unescape(fields[3]), Path(_unescape(fields[4])), tail[0],
                                frozenset(tail[2].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """This process's group per v1 controller, and under the key "" its v2 group."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            own[""] = path
        for controller in filter(None, controllers.split(",")):
            own[controller] = path
    return own


def _folder(mount: _Mount, group: str | None) -> Path | None:
    """The folder of `group` under `mount`, or None when the mount does not show it."""
    if group is None:
        return None
    root = mount.root.rstrip("/")
    if group != root and not group.startswith(root + "/"):
        return None
    folder = mount.point / group[len(root):].lstrip("/")
    return folder if folder.is_dir() else None


def _can_create(parent: Path, limit_file: str) -> str:
    """Make and remove a trial group under `parent`; "" when that works, else why not."""
    trial = parent / f"{leftovers.prefix('probe')}{uuid.uuid4().hex}"  # unique: grader threads probe at once
    try:
        trial.mkdir()
    except OSError as exc:
        return f"cannot create groups in {parent} ({exc.strerror})"
    try:
        return "" if (trial / limit_file).exists() else f"{limit_file} missing in new groups"
    finally:
        trial.rmdir()


def _v1(mounts: list[_Mount], own: dict[str, str]) -> tuple[dict[str, Path], list[str]]:
    if not any(m.fstype == "cgroup" for m in mounts):
        return {}, ["not mounted"]
    parents, problems, missing = {}, [], []
    for controller in CONTROLLERS:
        mount = next((m for m in mounts if m.fstype == "cgroup" and controller in m.options), None)
        folder = _folder(mount, own.get(controller)) if mount else None
        if folder is None:
            missing.append(controller)
            continue
        problem = _can_create(folder, _LIMIT_FILE["v1", controller])
        if problem:
            problems.append(f"{controller}: {problem}")
        else:
            parents[controller] = folder
    if missing:
        problems.append(f"no {' or '.join(missing)} hierarchy")
    return parents, problems


def _enable(folder: Path, controller: str) -> str:
    """Enable `controller` for the groups below `folder`; "" when it is on, else why not."""
    if controller in (folder / "cgroup.subtree_control").read_text().split():
        return ""
    try:
        (folder / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError as exc:
        if exc.errno == errno.EBUSY:  # v2 allows no processes in a group that hands out controllers
            return f"cannot enable {controller} (the grader's cgroup {folder} holds processes)"
        return f"cannot enable {controller} in {folder} ({exc.strerror})"
    return ""


def _v2(mounts: list[_Mount], own: dict[str, str]) -> tuple[dict[str, Path], list[str]]:
    mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    folder = _folder(mount, own.get("")) if mount else None
    if folder is None:
        return {}, ["not mounted"]
    parents, problems = {}, []
    available = (folder / "cgroup.controllers").read_text().split()
    for controller in CONTROLLERS:
        problem = _enable(folder, controller) if controller in available else f"no {controller} controller"
        problem = problem or _can_create(folder, _LIMIT_FILE["v2", controller])
        if problem:
            problems.append(problem)
        else:
            parents[controller] = folder
    return parents, problems


@functools.cache
def support() -> Support:
    """The best cgroup version here: one with the memory controller first, then one with pids only."""
    try:
        mounts, own = _mounts(), _own_groups()
        v1, v1_problems = _v1(mounts, own)
        if all(c in v1 for c in REQUIRED):
            return Support("v1", v1, ", ".join(v1_problems))
        v2, v2_problems = _v2(mounts, own)
    except (OSError, ValueError) as exc:
        return Support("none", {}, f"cannot read the cgroup setup: {exc}")
    for wanted in ("memory", "pids"):
        for version, parents, problems in (("v1", v1, v1_problems), ("v2", v2, v2_problems)):
            if wanted in parents:
                return Support(version, parents, ", ".join(problems))
    return Support("none", {}, f"v1: {', '.join(v1_problems)}; v2: {', '.join(v2_problems)}")


class RunGroup:
    """One run's group: created with its limits, joined by the child, then killed and removed."""

    def __init__(self, support: Support, name: str, limits: Limits):
        self.version = support.version
        self.limits = limits
        self.folders: dict[str, Path] = {}
        self.cpu_problem = ""
        try:
            for controller, parent in support.parents.items():
                folder = parent / name
                if folder not in self.folders.values():
                    folder.mkdir()
                self.folders[controller] = folder
                try:
                    self._set_limit(controller, folder)
                except OSError as exc:
                    if controller != "cpu":
                        raise
                    self._drop_cpu(exc)  # e.g. a quota above the grader's own: memory and pids still hold
        except OSError as exc:
            self.remove()
            raise CgroupError(f"cgroup {self.version} setup failed: {exc}") from exc

    def _set_limit(self, controller: str, folder: Path) -> None:
        if controller == "cpu":
            self._set_cpu(folder)
            return
        value = self.limits.memory_mb * MIB if controller == "memory" else self.limits.max_pids
        (folder / _LIMIT_FILE[self.version, controller]).write_text(str(value))
        if controller == "memory":  # no escape into swap, where the kernel accounts for it
            swap = "memory.memsw.limit_in_bytes" if self.version == "v1" else "memory.swap.max"
            if (folder / swap).exists():
                (folder / swap).write_text(str(value) if self.version == "v1" else "0")

    def _drop_cpu(self, exc: OSError) -> None:
        folder = self.folders.pop("cpu")
        if folder not in self.folders.values():
            folder.rmdir()
        self.cpu_problem = f"{exc.filename and Path(exc.filename).name}: {exc.strerror}"

    def _set_cpu(self, folder: Path) -> None:
        """A hard quota of `cpus` CPUs and the default weight, the same for every run."""
        quota = max(1000, round(self.limits.cpus * CPU_PERIOD_US))
        if self.version == "v1":
            (folder / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (folder / "cpu.cfs_quota_us").write_text(str(quota))
            (folder / "cpu.shares").write_text("1024")
        else:
            (folder / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            (folder / "cpu.weight").write_text("100")

    def _unique_folders(self) -> list[Path]:
        return list(dict.fromkeys(self.folders.values()))

    def procs_files(self) -> list[str]:
        """The files the child writes its pid to, before it execs anything."""
        return [str(folder / "cgroup.procs") for folder in self._unique_folders()]

    def describe(self) -> str:
        parts = []
        if "memory" in self.folders:
            parts.append(f"memory {self.limits.memory_mb} MiB")
        if "pids" in self.folders:
            parts.append(f"pids {self.limits.max_pids}")
        if "cpu" in self.folders:
            parts.append(f"cpu {self.limits.cpus:g} CPU")
        else:
            parts.append(f"no CPU quota ({self.cpu_problem})" if self.cpu_problem else "no CPU quota")
        return f"cgroup {self.version} {' / '.join(parts)}"

    def memory_exceeded(self) -> bool:
        """Whether the kernel killed a process of the group for going over the memory limit."""
        folder = self.folders.get("memory")
        if folder is None:
            return False
        name = "memory.oom_control" if self.version == "v1" else "memory.events"
        try:
            lines = (folder / name).read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split(maxsplit=1) for line in lines if " " in line)
        return int(counts.get("oom_kill", "0")) > 0

    def _pids(self) -> set[int]:
        pids: set[int] = set()
        for procs in self.procs_files():
            try:
                pids.update(int(pid) for pid in Path(procs).read_text().split())
            except OSError:
                continue
        return pids

    def kill(self, wait_s: float = 5.0) -> None:
        """SIGKILL every process in the group, again and again until it is empty (forks race us)."""
        if self.version == "v2":  # one write kills the whole group at once (Linux 5.14+)
            for folder in self._unique_folders():
                try:
                    (folder / "cgroup.kill").write_text("1")
                except OSError:
                    pass  # older kernel: the loop below does it
        give_up = time.monotonic() + wait_s
        while (pids := self._pids()) and time.monotonic() < give_up:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def remove(self, wait_s: float = 2.0) -> None:
        """Delete the group's folders; the kernel refuses while a dying process is still in it."""
        give_up = time.monotonic() + wait_s
        for folder in self._unique_folders():
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if time.monotonic() > give_up:
                        raise CgroupError(f"could not remove {folder}: {exc.strerror}") from exc
                    time.sleep(0.01)


def run_group_parents() -> list[Path]:
    """The folders in which this machine's run groups are made (where leftovers are looked for)."""
    return list(dict.fromkeys(support().parents.values()))


def group_name(token: str) -> str:
    """A run group's name: it carries the owning grader, for the start-up clean-up."""
    return f"{leftovers.prefix('run')}{token}"
