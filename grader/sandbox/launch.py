"""Run one command of student code in a fresh sandbox: the single entry point the grader uses."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import bubblewrap, cgroups, isolation, process
from . import limits as rlimits
from .limits import Limits


@dataclass
class SandboxOutcome:
    """How a run ended. Nothing here is evidence that student code passed anything."""

    returncode: int | None
    timed_out: bool
    memory_exceeded: bool
    output: str
    output_truncated: bool
    wall_s: float
    isolation: str
    channel: bytes = b""
    channel_truncated: bool = False


def inside_root(root: Path) -> str:
    """The path at which `root` appears inside the sandbox."""
    return bubblewrap.SANDBOX if isolation.probe().bubblewrap else str(Path(root).resolve())


def _subfolder(root: Path, relative: str, what: str) -> Path:
    """`root/relative`, which must be a real folder inside root (no `..`, no symlink out of it)."""
    path = root / relative
    if os.path.isabs(relative) or ".." in Path(relative).parts or path.resolve() != path:
        raise ValueError(f"{what} {relative!r} must be a folder inside {root}, reached without symlinks")
    if not path.is_dir():
        raise ValueError(f"{what} {relative!r} does not exist in {root}")
    return path


def _fresh_home(home: Path) -> None:
    """HOME for the child: a real folder in root, even if an earlier run left a file or symlink there."""
    if home.is_symlink() or (home.exists() and not home.is_dir()):
        home.unlink()
    home.mkdir(exist_ok=True)


def _environment(home: str, token: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Only what we pass: nothing of the grader's own environment reaches student code."""
    path = [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
    env = {"PATH": os.pathsep.join(dict.fromkeys(path)), "HOME": home, "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra or {})
    env[process.TOKEN_VAR] = token
    return env


def _writes(scratch: Sequence[str], limits: Limits) -> str:
    """Where a run can write, with the caps, for the isolation line."""
    if not bubblewrap.sizes_capped():
        return "writes only to tmpfs, NOT size-capped (bwrap before 0.7; the memory cgroup still bounds them)"
    folders = f", {'+'.join(scratch)} {limits.scratch_mb} MiB" if scratch else ""
    return f"writes only to tmpfs (/tmp and /dev/shm {limits.tmp_mb} MiB each{folders})"


def _run_group(cgroup: str, token: str, limits: Limits) -> tuple[cgroups.RunGroup | None, str]:
    """This run's cgroup and its phrase for the isolation line (a failure is said, not raised)."""
    support = cgroups.support()
    if cgroup == "none":
        return None, support.describe() if support.version == "none" else "no cgroup (not used)"
    try:
        group = cgroups.RunGroup(support, cgroups.group_name(token), limits)
    except cgroups.CgroupError as exc:
        return None, f"no cgroup ({exc})"
    return group, group.describe()


def run(root: Path, argv: list[str], *, limits: Limits, scratch: Sequence[str] = (),
        hide: Sequence[Path] = (), cwd: str = "", env: Mapping[str, str] | None = None,
        gpu: bool = False, stdin: Callable[[BinaryIO], None] | None = None,
        channel: bool = False) -> SandboxOutcome:
    """Run `argv` with `root` read-only inside, under every layer this machine allows.

    `scratch` names empty sub-folders of root that become writable tmpfs of `limits.scratch_mb` each
    (without bubblewrap they are the host folders themselves); `hide` lists host paths inside the
    allow-list that must not be readable; `cwd` is relative to root; `argv` must already use
    `inside_root(root)`. HOME is the private /tmp. `stdin` is run in a thread with the command's stdin
    (e.g. to send inputs stage by stage); with `channel`, the command gets the write end of a pipe as
    fd 3 and `SandboxOutcome.channel` holds what arrived there. Under bubblewrap a process killed by
    signal N shows as exit code 128 + N.
    """
    found = isolation.probe()
    root = Path(root).resolve()
    if not root.is_dir():
        raise ValueError(f"sandbox root {root} is not a folder")
    workdir = _subfolder(root, cwd, "cwd")
    scratch = [_subfolder(root, name, "scratch folder").relative_to(root).as_posix() for name in scratch]
    hidden = [Path(p) for p in hide]
    relative = [str(p) for p in hidden if not p.is_absolute()]
    if relative:
        raise ValueError(f"hidden paths must be absolute: {', '.join(relative)}")
    if found.bubblewrap:
        home = bubblewrap.HOME
    else:
        _fresh_home(root / "home")
        home = f"{root}/home"
    token = uuid.uuid4().hex
    group, cgroup_text = _run_group(found.cgroup, token, limits)
    try:
        chosen = rlimits.rlimits(limits, gpu=gpu, pids_enforced=group is not None and "pids" in group.folders)
        procs_files = group.procs_files() if group else []

        def prepare() -> None:  # in the child, between fork and exec: join the cgroup, set rlimits
            for procs in procs_files:
                fd = os.open(procs, os.O_WRONLY)
                try:
                    os.write(fd, str(os.getpid()).encode())
                finally:
                    os.close(fd)
            rlimits.apply(chosen)

        command = list(argv)
        if found.bubblewrap:
            command = bubblewrap.command(root, argv, scratch=scratch, hide=hidden,
                                         cwd=workdir.relative_to(root).as_posix(), gpu=gpu,
                                         tmp_mb=limits.tmp_mb, scratch_mb=limits.scratch_mb)
        finished = process.run_tree(command, env=_environment(home, token, env), cwd=str(workdir),
                                    timeout_s=limits.timeout_s, max_output_bytes=limits.max_output_bytes,
                                    token=token, prepare=prepare, kill_more=group.kill if group else None,
                                    stdin=stdin, channel=channel, max_channel_bytes=limits.max_channel_bytes)
        memory_exceeded = group.memory_exceeded() if group else False
    finally:
        if group:
            group.kill()
            group.remove()
    text = isolation.describe(bubblewrap_used=found.bubblewrap,
                              bubblewrap_problem="" if found.bubblewrap else bubblewrap.problem(),
                              cgroup_text=cgroup_text, rlimit_text=rlimits.describe(chosen),
                              writes=_writes(scratch, limits))
    return SandboxOutcome(finished.returncode, finished.timed_out, memory_exceeded,
                          finished.output.decode("utf-8", errors="replace"), finished.truncated,
                          finished.wall_s, text, finished.channel, finished.channel_truncated)
