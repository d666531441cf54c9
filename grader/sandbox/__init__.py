"""The sandbox: every stage of student code runs in a fresh child process under every layer this machine
allows: bubblewrap (an allow-listed read-only machine, size-capped tmpfs for writing, no network, own PID
namespace, unprivileged user, a seccomp filter), a cgroup (memory, process count and CPU quota for the
whole tree), rlimits, a scrubbed environment, a capped output capture and a wall-clock deadline that
kills the whole process tree. What a killed grader leaves behind is removed at the next start
(`leftovers`).

    outcome = run(box, [sys.executable, "-I", "-c", BOOTSTRAP, f"{inside_root(box)}/lib"],
                  limits=Limits(timeout_s=300), scratch=["scratch"], cwd="submission")
"""

from . import leftovers
from .isolation import Isolation, probe, refusal
from .launch import SandboxOutcome, inside_root, run
from .limits import Limits

__all__ = ["Isolation", "Limits", "SandboxOutcome", "inside_root", "leftovers", "probe", "refusal", "run"]
