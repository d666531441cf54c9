"""What a grader leaves on the machine carries its owner in its name, so a killed grader's leftovers can go.

Work folders in the temp folder and run cgroups are named `unet-grader-<kind>-<pid>.<start>-...`, where
<start> is the owner's start time (field 22 of /proc/PID/stat), so a pid the kernel has since given to
another process does not pass for the owner. `clean()` at the start of `grade` and `check` removes what
belongs to graders that are gone, and never touches what a live grader (a second one running at the same
time) owns or anything whose name carries no owner. `exit_on_sigterm()` makes SIGTERM remove this
grader's own leftovers before it exits.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

PREFIX = "unet-grader-"
_OWNED = re.compile(r"^unet-grader-(?:[a-z]+-)*(\d+)\.(\d+)(?:-|$)")
_SIGTERM_EXIT = 128 + signal.SIGTERM


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])  # fields after "(comm)" start at field 3


@functools.cache
def _tag_of(pid: int) -> str:
    return f"{pid}.{_start_time(pid)}"


def tag() -> str:
    """This process's owner tag, e.g. `4242.1234567`."""
    return _tag_of(os.getpid())


def prefix(kind: str) -> str:
    """The name prefix for something this process owns, e.g. `unet-grader-work-4242.1234567-`."""
    return f"{PREFIX}{kind}-{tag()}-"


def owner(name: str) -> tuple[int, int] | None:
    """(pid, start time) of the grader that owns `name`, or None when the name says no owner."""
    found = _OWNED.match(name)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _gone(name: str) -> bool:
    """Whether `name` has an owner and that owner no longer runs."""
    who = owner(name)
    return who is not None and _start_time(who[0]) != who[1]


def _mine(name: str) -> bool:
    return owner(name) == (os.getpid(), _start_time(os.getpid()))


def _remove_folder(path: Path) -> bool:
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()


def _cgroup_pids(folder: Path) -> list[int]:
    try:
        return [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _remove_cgroup(folder: Path, wait_s: float = 2.0) -> bool:
    """Kill what still runs in the group (a sandbox that outlived its grader), then delete it."""
    with contextlib.suppress(OSError):
        (folder / "cgroup.kill").write_text("1")
    give_up = time.monotonic() + wait_s
    while time.monotonic() < give_up:
        for pid in _cgroup_pids(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.01)
    return False


def _candidates(parent: Path, wanted) -> list[Path]:
    try:
        return [p for p in parent.iterdir() if p.name.startswith(PREFIX) and wanted(p.name) and p.is_dir()
                and not p.is_symlink()]
    except OSError:
        return []


def clean(*, cgroup_parents: list[Path] | None = None, temp: Path | None = None, wanted=_gone) -> list[Path]:
    """Remove the work folders and cgroups whose owner is `wanted` (default: a grader that is gone).

    Returns what was removed. `cgroup_parents` defaults to where this machine's run groups are made.
    """
    if cgroup_parents is None:
        from . import cgroups

        cgroup_parents = cgroups.run_group_parents()
    removed = []
    for parent in dict.fromkeys(cgroup_parents):
        removed += [p for p in _candidates(parent, wanted) if _remove_cgroup(p)]
    removed += [p for p in _candidates(temp or Path(tempfile.gettempdir()), wanted) if _remove_folder(p)]
    return removed


def _on_sigterm(signum, frame) -> None:
    clean(wanted=_mine)
    os._exit(_SIGTERM_EXIT)


def exit_on_sigterm() -> None:
    """On SIGTERM, kill this grader's sandboxes and remove its work folders, then exit with 143."""
    signal.signal(signal.SIGTERM, _on_sigterm)
