"""The seccomp filter: student code cannot trace or read another process, and ordinary work still runs."""

from __future__ import annotations

import errno
import json
import struct
import sys
import textwrap
from pathlib import Path

import pytest

from grader import sandbox
from grader.sandbox import Limits, bubblewrap, seccomp

ALLOW, KILL, EPERM = "allow", "kill", "EPERM"
# a few numbers taken from the kernel's tables (x86_64: asm/unistd_64.h, aarch64: asm-generic/unistd.h)
X86_64 = {"arch": 0xC000003E, "read": 0, "clone": 56, "ptrace": 101, "process_vm_writev": 311, "bpf": 321}
AARCH64 = {"arch": 0xC00000B7, "read": 63, "clone": 220, "ptrace": 117, "process_vm_writev": 271, "bpf": 280}
I386 = 0x40000003


def verdict(program: bytes, arch: int, nr: int) -> str:
    """Run the classic-BPF program on one seccomp_data, as the kernel would (the few opcodes it may use)."""
    data = {0: nr, 4: arch}
    ops = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = ops[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            acc = data[k]
        elif code in (0x15, 0x35):  # BPF_JMP | BPF_JEQ / BPF_JGE, constant operand
            hit = acc == k if code == 0x15 else acc >= k
            pc += jt if hit else jf
        elif code == 0x06:  # BPF_RET | BPF_K
            if k == 0x7FFF0000:
                return ALLOW
            if k == 0x80000000:
                return KILL
            assert k == 0x00050000 | errno.EPERM
            return EPERM
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine, table", [("x86_64", X86_64), ("aarch64", AARCH64)])
def test_filter_denies_tracing_and_allows_the_rest(machine, table):
    program = seccomp.program(machine)
    assert verdict(program, table["arch"], table["read"]) == ALLOW
    assert verdict(program, table["arch"], table["clone"]) == ALLOW  # threads, fork, the notebook kernel
    for name in ("ptrace", "process_vm_writev", "bpf"):
        assert verdict(program, table["arch"], table[name]) == EPERM
    assert verdict(program, I386, table["read"]) == KILL  # another ABI: the numbers mean other calls


@pytest.mark.parametrize("machine, table", [("x86_64", X86_64), ("aarch64", AARCH64)])
def test_every_named_call_is_denied(machine, table):
    program = seccomp.program(machine)
    named = seccomp.numbers(machine)
    assert {name: named[name] for name in ("ptrace", "process_vm_writev", "bpf")} == \
        {name: table[name] for name in ("ptrace", "process_vm_writev", "bpf")}
    assert [n for n, nr in named.items() if verdict(program, table["arch"], nr) != EPERM] == []


def test_x32_calls_are_denied_on_x86_64():
    assert verdict(seccomp.program("x86_64"), X86_64["arch"], 0x40000000 | X86_64["read"]) == EPERM


def test_other_architectures_run_without_a_filter_and_say_so(monkeypatch):
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "riscv64")
    assert not seccomp.supported()
    assert bubblewrap.seccomp_text() == "NO seccomp (no filter for riscv64)"
    assert "NO seccomp (no filter for riscv64)" in bubblewrap.describe()
    argv = bubblewrap.command(Path("/nonexistent"), ["true"], scratch=(), hide=(), cwd="", gpu=False, tmp_mb=8,
                              scratch_mb=8)
    assert "--seccomp" not in argv


def box(tmp_path: Path) -> Path:
    for name in ("submission", "lib", "scratch"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture
def bwrap():
    found = sandbox.probe()
    assert found.bubblewrap, f"these tests need a working bubblewrap: {bubblewrap.problem()}"
    assert seccomp.supported(), f"no seccomp filter for {seccomp.arch()}"
    return found


TRACER = """
    import ctypes, errno, json, os, time
    libc = ctypes.CDLL(None, use_errno=True)

    def call(name, *args):
        fn = getattr(libc, name)
        fn.restype = ctypes.c_long
        return fn(*args), errno.errorcode.get(ctypes.get_errno(), "")

    secret = ctypes.create_string_buffer(b"secret")
    target = os.fork()  # a child of ours: ptrace and process_vm_readv would be allowed without the filter
    if target == 0:
        time.sleep(30)
        os._exit(0)
    read, write = os.pipe()
    sibling = os.fork()
    if sibling == 0:  # a sibling, as another stage's process would be
        os.write(write, json.dumps(call("ptrace", 16, target, 0, 0)).encode())
        os._exit(0)
    os.waitpid(sibling, 0)
    result = {"sibling": json.loads(os.read(read, 100)), "child": call("ptrace", 16, target, 0, 0)}

    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    copy = ctypes.create_string_buffer(6)
    local, remote = Iov(ctypes.addressof(copy), 6), Iov(ctypes.addressof(secret), 6)
    result["vm_read"] = call("process_vm_readv", target, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    result["unshare"] = call("unshare", 0x00020000)  # CLONE_NEWNS
    os.kill(target, 9)
    print(json.dumps(result))
"""


def test_tracing_another_process_fails_inside(tmp_path, bwrap):
    outcome = sandbox.run(box(tmp_path), [sys.executable, "-c", textwrap.dedent(TRACER)], limits=Limits(timeout_s=20))
    result = json.loads(outcome.output)
    assert result == {"sibling": [-1, "EPERM"], "child": [-1, "EPERM"], "vm_read": [-1, "EPERM"],
                      "unshare": [-1, "EPERM"]}
    assert "seccomp (ptrace" in outcome.isolation


NOTEBOOK = """
    import json, sys
    import nbformat
    from nbclient import NotebookClient
    cells = ["import numpy as np, torch, threading, os",
             "t = threading.Thread(target=lambda: None); t.start(); t.join()",
             "pid = os.fork()\\nif pid == 0:\\n    os._exit(0)\\nos.waitpid(pid, 0)",
             "print(float(torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3)).sum()),"
             " np.ones(3).sum())"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    print(json.dumps(nb.cells[-1].outputs[0]["text"]))
"""


@pytest.mark.slow
def test_torch_numpy_and_a_notebook_kernel_still_run(tmp_path, bwrap):
    """The kernel speaks zmq over loopback, starts threads and forks: none of it is denied."""
    outcome = sandbox.run(box(tmp_path), [sys.executable, "-c", textwrap.dedent(NOTEBOOK)],
                          limits=Limits(timeout_s=120), env={"MPLBACKEND": "Agg"}, cwd="submission")
    assert outcome.returncode == 0, outcome.output
    assert json.loads(outcome.output.strip().splitlines()[-1]) == "36.0 3.0\n"
