"""A seccomp filter for bubblewrap's `--seccomp FD`: classic BPF, built here, so no libseccomp is needed.

It denies with EPERM the system calls that let one process reach into another (ptrace, process_vm_*,
kcmp, perf_event_open), that widen the kernel's attack surface (bpf, userfaultfd, io_uring, the key
rings, kernel modules) or that change mounts and namespaces. Any other system call ABI than the native
one (i386 `int 0x80` and x32 on x86_64, arm32 on aarch64) kills the process: the numbers above would not
mean the same calls there. On another architecture there is no filter, and the isolation line says so.
"""

from __future__ import annotations

import errno
import platform
import struct

# seccomp_data: int nr at offset 0, u32 arch at offset 4 (linux/seccomp.h)
_NR, _ARCH = 0, 4
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_X32_BIT = 0x40000000

DENIED = ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "perf_event_open", "bpf", "userfaultfd",
          "keyctl", "add_key", "request_key", "mount", "umount2", "pivot_root", "unshare", "setns",
          "open_by_handle_at", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
          "reboot", "swapon", "swapoff", "acct", "syslog", "io_uring_setup", "io_uring_enter",
          "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
          "mount_setattr", "quotactl", "lookup_dcookie", "vhangup")

# (AUDIT_ARCH_*, numbers in the order of DENIED): asm/unistd_64.h and asm-generic/unistd.h
_ARCHES = {
    "x86_64": (0xC000003E, (101, 310, 311, 312, 298, 321, 323, 250, 248, 249, 165, 166, 155, 272, 308, 304,
                            175, 313, 176, 246, 320, 169, 167, 168, 163, 103, 425, 426, 427, 428, 429, 430,
                            431, 432, 433, 442, 179, 212, 153)),
    "aarch64": (0xC00000B7, (117, 270, 271, 272, 241, 280, 282, 219, 217, 218, 40, 39, 41, 97, 268, 265, 105,
                             273, 106, 104, 294, 142, 224, 225, 89, 116, 425, 426, 427, 428, 429, 430, 431,
                             432, 433, 442, 60, 18, 58)),
}
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def numbers(machine: str) -> dict[str, int]:
    """Each denied system call's number on `machine`."""
    return dict(zip(DENIED, _ARCHES[machine][1], strict=True))


def arch() -> str:
    """This machine's architecture as the filter names it."""
    machine = platform.machine().lower()
    return _ALIASES.get(machine, machine)


def supported() -> bool:
    return arch() in _ARCHES


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)  # struct sock_filter, in the kernel's byte order


def program(machine: str | None = None) -> bytes:
    """The filter for `machine` (default: this one) as bwrap reads it: sock_filter structs back to back."""
    machine = machine or arch()
    tests = [(_JGE_K, _X32_BIT)] if machine == "x86_64" else []
    tests += [(_JEQ_K, nr) for nr in numbers(machine).values()]
    ops = [_op(_LD_W_ABS, _ARCH), _op(_JEQ_K, _ARCHES[machine][0], jt=1), _op(_RET_K, _KILL_PROCESS),
           _op(_LD_W_ABS, _NR)]
    for i, (code, k) in enumerate(tests):
        ops.append(_op(code, k, jt=len(tests) - i))  # past the remaining tests and the allow: to the deny
    ops += [_op(_RET_K, _ALLOW), _op(_RET_K, _ERRNO | errno.EPERM)]
    return b"".join(ops)
