"""The in-sandbox supervisor: import numpy and torch once, then fork one child per stage.

Forking is safe because this process only imports torch and never computes with it (a fork after torch
has run a parallel op hangs the child). Each stage gets its own process group, memory limit, deadline and
log; between stages every other process in the sandbox is killed, so nothing one stage leaves behind can
write another stage's outputs. `_status.json` says how a stage ended; the parent uses it only to explain.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

MEMORY_EXIT = 86


def _kill_strays(keep: set[int]) -> None:
    """Kill every process of this PID namespace but us and our ancestors (only used inside one)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in keep:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


def _ancestors() -> set[int]:
    pids, pid = {os.getpid()}, os.getppid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _limit_memory(limit: int) -> None:
    """Lower RLIMIT_DATA to the stage's budget, never above the sandbox's own hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _child(stage: dict, plan: dict, out_dir: Path) -> None:
    """Runs in the forked child: never returns."""
    code = 1
    try:
        os.setsid()
        log = os.open(out_dir / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        if not stage.get("uses_gpu"):  # the CUDA driver maps far more than it uses
            _limit_memory(int(stage.get("memory_mb", 4096)) * 1024 * 1024)
        import torch

        torch.set_num_threads(int(plan.get("threads", 1)))
        root = Path(plan["submission"])
        os.chdir(root)
        from .io import StageIO

        io = StageIO(Path(plan["in_root"]) / stage["name"], out_dir, root)
        handler = importlib.import_module(f"{__package__}.stages.{stage['handler']}")
        handler.run(io, root)
        code = 0
    except MemoryError:
        code = MEMORY_EXIT
    except BaseException:  # noqa: BLE001 - the log keeps the traceback for the report
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, deadline: float) -> tuple[str, int | None]:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                return ("memory" if sig == signal.SIGKILL else "crashed"), -sig
            code = os.WEXITSTATUS(status)
            return ("ok" if code == 0 else "memory" if code == MEMORY_EXIT else "crashed"), code
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", None
        time.sleep(0.02)


def run_stage(stage: dict, plan: dict) -> None:
    out_dir = Path(plan["out_root"]) / stage["name"]
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(stage, plan, out_dir)
    state, code = _wait(pid, start + float(stage["timeout_s"]))
    with contextlib.suppress(ProcessLookupError, PermissionError):  # whatever the stage left in its group
        os.killpg(pid, signal.SIGKILL)
    if plan.get("pid_namespace"):
        _kill_strays(_ancestors())
    status = {"state": state, "exit": code, "wall_s": round(time.monotonic() - start, 3)}
    (out_dir / "_status.json").write_text(json.dumps(status))


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text())
    import numpy  # noqa: F401 - imported once here, shared by every forked stage
    import torch  # noqa: F401

    for stage in plan["stages"]:
        run_stage(stage, plan)
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    # Every stage's outputs and status are written and closed by now; a normal interpreter exit with torch
    # loaded would take a second or more of every submission's time (benchmarks/grading_speed.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
