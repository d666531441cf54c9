"""Resource limits for one sandboxed run, and the per-process rlimits that back them up.

rlimits hold for every process of the tree, each on its own; the cgroup (see `cgroups.py`) is what bounds
the tree as a whole. RLIMIT_AS is never used: it breaks torch's thread pools and CUDA. RLIMIT_NPROC counts
every process of the user (and is ignored for root), so it is only a rough stand-in where no pids cgroup
exists.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass
class Limits:
    """What one run may use; `timeout_s` is wall-clock time for the whole process tree.

    `cpus` is the run's CPU quota (its thread count); `scratch_mb` caps each scratch folder and `tmp_mb`
    each of /tmp and /dev/shm: with the box read-only, these tmpfs are all a run can write.
    """

    timeout_s: float = 120.0
    memory_mb: int = 6144
    max_pids: int = 256
    max_file_mb: int = 512
    max_output_bytes: int = 200_000
    cpus: float = 1.0
    scratch_mb: int = 2048
    tmp_mb: int = 1024
    max_channel_bytes: int = 512 * MIB


def _user_process_count(uid: int) -> int:
    """How many processes `uid` runs now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def rlimits(limits: Limits, *, gpu: bool, pids_enforced: bool) -> dict[int, int]:
    """The rlimits to set in the child before it runs anything.

    RLIMIT_DATA is left out for GPU runs: the CUDA driver maps far more private memory than it uses.
    RLIMIT_NPROC is only set for a non-root user without a pids cgroup, as `max_pids` more than the
    processes that user already runs.
    """
    chosen = {resource.RLIMIT_CORE: 0, resource.RLIMIT_FSIZE: limits.max_file_mb * MIB}
    if not gpu:
        chosen[resource.RLIMIT_DATA] = limits.memory_mb * MIB
    uid = os.geteuid()
    if uid != 0 and not pids_enforced:
        chosen[resource.RLIMIT_NPROC] = _user_process_count(uid) + limits.max_pids
    return chosen


def describe(chosen: dict[int, int]) -> str:
    """The rlimits as one short phrase, e.g. `rlimits (data 6144 MiB, file 512 MiB, no core dumps)`."""
    parts = []
    if resource.RLIMIT_DATA in chosen:
        parts.append(f"data {chosen[resource.RLIMIT_DATA] // MIB} MiB")
    parts.append(f"file {chosen[resource.RLIMIT_FSIZE] // MIB} MiB")
    if resource.RLIMIT_NPROC in chosen:
        parts.append(f"{chosen[resource.RLIMIT_NPROC]} processes for the user")
    parts.append("no core dumps")
    return f"rlimits ({', '.join(parts)})"


def apply(chosen: dict[int, int]) -> None:
    """Set each rlimit, never raising a hard limit above what this process already has."""
    for which, value in chosen.items():
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
