"""What the sandbox can enforce on this machine, found once per process and said in one line."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from . import bubblewrap, cgroups


@dataclass(frozen=True)
class Isolation:
    """The layers available here; `description` goes into result.json's environment.isolation."""

    bubblewrap: bool
    cgroup: str
    description: str


def describe(*, bubblewrap_used: bool, bubblewrap_problem: str, cgroup_text: str, rlimit_text: str) -> str:
    """The isolation line, e.g. `bubblewrap (...), cgroup v1 memory 6144 MiB / pids 256, rlimits (...)`."""
    if bubblewrap_used:
        return f"{bubblewrap.describe()}, {cgroup_text}, {rlimit_text}"
    if cgroup_text.startswith("cgroup "):
        layers = f"{cgroup_text}, {rlimit_text}, process group"
    else:
        layers = f"{rlimit_text} + process group only; {cgroup_text}"
    return f"WEAKER: no bubblewrap ({bubblewrap_problem or 'not used'}) — {layers}"


@functools.cache
def probe() -> Isolation:
    """Try bubblewrap and the cgroup hierarchies once; later calls return the same answer."""
    problem = bubblewrap.problem()
    support = cgroups.support()
    text = describe(bubblewrap_used=not problem, bubblewrap_problem=problem, cgroup_text=support.describe(),
                    rlimit_text="rlimits (data, file size, no core dumps)")
    return Isolation(bubblewrap=not problem, cgroup=support.version, description=text)
