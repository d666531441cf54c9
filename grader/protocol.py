"""The one protocol between the grader and its in-sandbox supervisor: typed values and one framing.

The parent imports it as `grader.protocol`; the sandbox gets a copy beside the runner (`grader_runner.protocol`),
so it uses the standard library only. Both directions use the same frame: a 4-byte big-endian header length,
the header (a JSON object with a `kind`), then the header's `size` raw bytes. Every length is capped, and a
reader stops at the first frame that breaks a cap or is cut short, so a killed writer only loses frames.

    parent -> supervisor (its stdin): one `plan` frame, then one `stage` frame per stage, in the plan's order;
        a stage frame's body is its input files one after another (`files` lists their names and sizes).
    supervisor -> parent (fd 3): per stage, one `file` frame per output file, one `log` frame, and last a
        `status` frame; a stage without its status frame did not finish sending.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

MAX_HEADER_BYTES = 64 * 1024
MAX_INPUT_BYTES = 1024 * 2**20  # one stage's inputs together (held-out images, the notebook, the cases)
MAX_FILE_BYTES = 256 * 2**20  # one output file
MAX_FILES = 4096  # output files of one stage
MAX_LOG_BYTES = 200_000  # the part of a stage's stdout/stderr that is kept
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
STATES = ("ok", "timeout", "crashed", "memory")
# handlers that must run in a process that never imported torch (the plan runs them first)
NUMPY_ONLY = frozenset({"deconv2d"})
_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame that breaks the protocol: cut short, over a cap, or not the expected kind."""


def safe_name(name: object) -> bool:
    """A plain file name: no path separator, no leading dot, at most 128 characters."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None and ".." not in name


@dataclass(frozen=True)
class StagePlan:
    """One stage as the supervisor schedules it; its task and inputs come later, in its own frame."""

    name: str
    handler: str
    timeout_s: float
    memory_mb: int
    uses_gpu: bool = False

    @property
    def numpy_only(self) -> bool:
        return self.handler in NUMPY_ONLY


@dataclass(frozen=True)
class Plan:
    """What the supervisor needs before the first stage: paths inside the sandbox and the stages' limits.

    `submission` is the read-only original, `lib` holds the runner, `scratch` is the writable folder where each
    stage gets a fresh copy of the submission, its inputs and its output folder; `tmp` lists the folders to
    empty between stages (the sandbox's own /tmp and /dev/shm; none without bubblewrap, where TMPDIR points
    into scratch instead). `pid_namespace` says whether every other process in sight belongs to the sandbox.
    """

    submission: str
    lib: str
    scratch: str
    tmp: tuple[str, ...] = ()
    threads: int = 1
    pid_namespace: bool = False
    stages: tuple[StagePlan, ...] = field(default_factory=tuple)

    def header(self) -> dict[str, Any]:
        return {"kind": "plan", **asdict(self)}

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> Plan:
        fields = {k: v for k, v in header.items() if k not in ("kind", "size")}
        fields["tmp"] = tuple(fields.get("tmp", ()))
        fields["stages"] = tuple(StagePlan(**s) for s in fields.get("stages", ()))
        return cls(**fields)


@dataclass
class StageInput:
    """One stage's task and input files, sent only when that stage is about to start."""

    name: str
    task: dict[str, Any]
    files: dict[str, bytes]

    def frame(self) -> tuple[dict[str, Any], list[bytes]]:
        files = {"task.json": json.dumps(self.task).encode(), **self.files}
        bad = [n for n in files if not safe_name(n)]
        if bad:
            raise ProtocolError(f"stage {self.name}: input names must be plain file names, not {bad}")
        header = {"kind": "stage", "name": self.name, "files": [[n, len(b)] for n, b in files.items()]}
        return header, list(files.values())


@dataclass(frozen=True)
class StageStatus:
    """How a stage ended, as the supervisor saw it; the parent uses it only to explain a failure."""

    state: str
    exit: int | None
    wall_s: float
    cpu_s: float


def write_frame(stream: BinaryIO, header: dict[str, Any], body: bytes | list[bytes] = b"") -> None:
    """Write one frame; `body` may be given in parts (a stage's input files)."""
    parts = [body] if isinstance(body, (bytes, bytearray, memoryview)) else body
    head = json.dumps({**header, "size": sum(len(p) for p in parts)}).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise ProtocolError(f"a {header.get('kind')} header of {len(head)} bytes is over the cap")
    stream.write(_LENGTH.pack(len(head)) + head)
    for part in parts:
        stream.write(part)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            raise ProtocolError(f"the stream ended {size - got} bytes early")
        got += n
    return buf


def read_frame(stream: BinaryIO, max_body: int) -> tuple[dict[str, Any], bytearray]:
    """Read one frame from a blocking stream; the body comes as a bytearray the caller can zero."""
    (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    header = _header(bytes(_read_exactly(stream, length)) if length <= MAX_HEADER_BYTES else b"")
    if header["size"] > max_body:
        raise ProtocolError(f"a {header['kind']} frame of {header['size']} bytes is over the cap of {max_body}")
    return header, _read_exactly(stream, header["size"])


def _header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("a frame header is not JSON or is over the cap") from exc
    size = header.get("size") if isinstance(header, dict) else None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str) or type(size) is not int or size < 0:
        raise ProtocolError("a frame header lacks its kind or size")
    return header


def frames(data: bytes, max_body: int) -> Iterator[tuple[dict[str, Any], memoryview]]:
    """The frames in `data` (what arrived on the channel), up to the first broken or truncated one."""
    view, pos = memoryview(data), 0
    while pos + _LENGTH.size <= len(data):
        (length,) = _LENGTH.unpack(view[pos:pos + _LENGTH.size])
        start = pos + _LENGTH.size + length
        if length > MAX_HEADER_BYTES or start > len(data):
            return
        try:
            header = _header(bytes(view[pos + _LENGTH.size:start]))
        except ProtocolError:
            return
        end = start + header["size"]
        if header["size"] > max_body or end > len(data):
            return
        yield header, view[start:end]
        pos = end


def split_files(header: dict[str, Any], body: bytes | bytearray | memoryview) -> dict[str, memoryview]:
    """A stage frame's body as its named input files, checking names and sizes against the body."""
    listed = header.get("files")
    if not isinstance(listed, list):
        raise ProtocolError("a stage frame lacks its list of files")
    found, pos, view = {}, 0, memoryview(body)
    for item in listed:
        if not (isinstance(item, list) and len(item) == 2 and safe_name(item[0]) and type(item[1]) is int
                and item[1] >= 0):
            raise ProtocolError(f"a stage frame lists a bad file entry: {item!r}"[:200])
        found[item[0]] = view[pos:pos + item[1]]
        pos += item[1]
    if pos != len(view):
        raise ProtocolError("a stage frame's files do not add up to its body")
    return found
