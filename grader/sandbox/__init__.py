"""The sandbox: every stage of student code runs in a fresh child process under every layer this machine
allows: bubblewrap (read-only machine, no network, own PID namespace, unprivileged user), a cgroup (memory
and process count for the whole tree), rlimits, a scrubbed environment, a capped output capture and a
wall-clock deadline that kills the whole process tree.

    outcome = run(root, [sys.executable, "-m", "grader.runner", f"{inside_root(root)}/in/plan.json"],
                  limits=Limits(timeout_s=300), readonly=["in", "lib"], hide=[solutions, out_dir])
"""

from .isolation import Isolation, probe
from .launch import SandboxOutcome, inside_root, run
from .limits import Limits

__all__ = ["Isolation", "Limits", "SandboxOutcome", "inside_root", "probe", "run"]
