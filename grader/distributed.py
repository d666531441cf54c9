"""`grade --scheduler`: the same grading, one Dask task per submission, on a cluster of machines.

No shared filesystem is assumed. A task carries the submission's bytes (a folder is packed into a tar in
memory) and the run's settings as plain data; the worker grades it in a temporary folder of its own with
`batch.grade_one`, exactly as a local worker does, and sends back result.json's content and the
artifacts the reports need. The TA's machine writes the output folder as results arrive and renders the
reports. Workers need unet-grader installed (the same version) and, for the gpu profile, `--resources GPU=1`.

`distributed` is an optional extra, imported only here and only when `--scheduler` is given.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

from . import __version__, batch, intake
from .intake.folders import folder_entries
from .messages import Text, text
from .progress import Progress
from .results import CheckResult, Environment, SubmissionInfo, SubmissionResult
from .rubric import Rubric
from .settings import RunSettings

INSTALL_HINT = "grading on Dask needs the optional extra: pip install 'unet-grader[dask]'"
SCHEDULER_FORMS = "give tcp://HOST:PORT (a running Dask scheduler) or local:N (N local worker processes)"
CONNECT_TIMEOUT_S = 30
ARTIFACT_FILE_CAP = 20 * 2**20
ARTIFACTS_CAP = 50 * 2**20
# A task whose worker dies is retried once, and the second death makes it an error result. The scheduler
# blames a dead worker for every task assigned to it, so no more tasks are sent than the cluster runs at
# once (`_capacity`): a worker that dies holds only the submission it was grading.
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}


class DaskError(RuntimeError):
    """Dask is missing, or the cluster cannot be used; the message says what to do."""


def require() -> ModuleType:
    """The `distributed` module, or a DaskError that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise DaskError(INSTALL_HINT) from exc
    return distributed


def parse_scheduler(value: str) -> str:
    """`local:N` (N >= 1) or a scheduler address such as tcp://HOST:8786; ValueError otherwise."""
    if value.startswith("local:"):
        n = value.removeprefix("local:")
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"{value!r}: local:N needs a number of workers N >= 1")
    elif "://" not in value:
        raise ValueError(f"{value!r}: {SCHEDULER_FORMS}")
    return value


def _resources(settings: RunSettings) -> dict[str, int] | None:
    """The training check on the gpu profile runs only on workers started with `--resources GPU=1`."""
    return {"GPU": 1} if settings.profile == "gpu" else None


# -- on the worker -----------------------------------------------------------------------------------


def worker_name() -> str:
    """Who graded: this machine and the Dask worker's name and address."""
    from distributed import get_worker

    worker = get_worker()
    return f"{socket.gethostname()} (dask worker {worker.name} at {worker.address})"


def _read_artifacts(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """({relative path: bytes}, paths left out over the size caps)."""
    found: dict[str, bytes] = {}
    left_out: list[str] = []
    total = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel, size = path.relative_to(folder).as_posix(), path.stat().st_size
        if size > ARTIFACT_FILE_CAP or total + size > ARTIFACTS_CAP:
            left_out.append(rel)
            continue
        found[rel] = path.read_bytes()
        total += size
    return found, left_out


def grade_task(payload: dict[str, Any], plain: dict[str, Any], key: dict[str, Any] | None) -> dict[str, Any]:
    """One Dask task: grade one submission in a fresh temporary folder; return the result and artifacts."""
    with tempfile.TemporaryDirectory(prefix="unet-grader-task-") as tmp:
        root = Path(tmp)
        archive = root / "in" / payload["name"]
        archive.parent.mkdir()
        archive.write_bytes(payload["data"])
        source = intake.SubmissionSource(payload["id"], archive, "archive", payload["sha256"])
        settings = RunSettings(**{**plain, "rubric": Rubric(**plain["rubric"]), "caps": intake.Caps(**plain["caps"]),
                                  "out_dir": root / "out", "work_root": root / "work"})
        result = batch.grade_one(source, settings, key, worker=worker_name())
        artifacts, left_out = _read_artifacts(settings.out_dir / source.id / "artifacts")
        if left_out:
            result.logs["dask"] = "artifacts over the size cap, not sent back: " + ", ".join(left_out)
        return {"result": result.to_dict(), "artifacts": artifacts}


# -- on the TA's machine -----------------------------------------------------------------------------


def _tar_folder(folder: Path) -> bytes:
    """A folder submission as an uncompressed tar of what the intake would copy from it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for entry in folder_entries(folder, []):
            info = tarfile.TarInfo(entry.name)
            if entry.is_dir:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = b"".join(entry.chunks())
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def payload(source: intake.SubmissionSource) -> dict[str, Any]:
    """What a worker needs of a submission: its bytes, name, id and hash (never a path)."""
    data = source.path.read_bytes() if source.kind == "archive" else _tar_folder(source.path)
    return {"id": source.id, "name": source.path.name, "sha256": source.sha256, "data": data}


def plain_settings(settings: RunSettings) -> dict[str, Any]:
    """The run's settings as plain data (the rubric's table, not its path); folders are the worker's own."""
    plain = asdict(settings)
    del plain["out_dir"], plain["work_root"]
    return plain


def _not_graded(source: intake.SubmissionSource, settings: RunSettings, reason: Text, worker: str
                ) -> SubmissionResult:
    """A submission the cluster could not grade: an error result without a resume key, regraded next run."""
    env = Environment(grader_version=__version__, device=settings.device, profile=settings.profile,
                      isolation="not graded", seed=settings.seed)
    return SubmissionResult(SubmissionInfo(source.id, source.path.name, source.sha256), env,
                            checks=[CheckResult.make("grader", "error", 0, reason)], extra={"worker": worker})


def _lost(source: intake.SubmissionSource, settings: RunSettings, exc: BaseException) -> SubmissionResult:
    last = getattr(getattr(exc, "last_worker", None), "address", None)
    if last is not None:  # distributed.KilledWorker: the workers running it died, one after another
        times = exc.allowed_failures + 1
        why_zh = f"评分它的 Dask 工作进程 {times} 次中途退出（崩溃、内存不足或被停止；最后一次在 {last}）"
        why_en = f"the Dask worker grading it died {times} times (crashed, ran out of memory or was stopped; " \
                 f"last on {last})"
    else:  # the task itself failed, and failed again when retried
        why_zh = why_en = f"{type(exc).__name__}: {exc}"
    reason = text(f"Dask 集群未能评分此提交：{why_zh}。请重新运行同一命令以重新评分。",
                  f"the Dask cluster could not grade this submission: {why_en}. Run the same command again to "
                  "regrade it.")
    return _not_graded(source, settings, reason, f"none (last tried on {last or 'an unknown worker'})")


def _unreadable(source: intake.SubmissionSource, settings: RunSettings, exc: Exception) -> SubmissionResult:
    reason = text(f"无法读取此提交以发送给 Dask 工作进程：{exc}", f"the submission could not be read to send it to a "
                  f"Dask worker: {exc}")
    return _not_graded(source, settings, reason, f"none (read on {socket.gethostname()})")


def _write(result: SubmissionResult, artifacts: dict[str, bytes], out_dir: Path) -> None:
    """Artifacts first, result.json last, so that a result in the folder always has its artifacts."""
    folder = (out_dir / result.submission.id / "artifacts").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    for rel, data in artifacts.items():
        target = (folder / rel).resolve()
        if target.is_relative_to(folder):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    result.write(out_dir / result.submission.id / "result.json")


@contextlib.contextmanager
def _client(distributed: ModuleType, scheduler: str, settings: RunSettings) -> Iterator[Any]:
    """A client of the named scheduler, or of a LocalCluster that lives as long as the client."""
    import dask

    if scheduler.startswith("local:"):
        with dask.config.set(SCHEDULER_CONFIG):
            cluster = distributed.LocalCluster(n_workers=int(scheduler.removeprefix("local:")), processes=True,
                                               threads_per_worker=1, resources=_resources(settings))
        with cluster, distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise DaskError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    with client:
        yield client


def _capacity(client: Any, resources: dict[str, int] | None) -> int:
    """How many submissions the cluster grades at once: its threads, or its GPUs for the gpu profile."""
    workers = client.scheduler_info()["workers"].values()
    if resources:
        return max(1, int(sum(w.get("resources", {}).get("GPU", 0) for w in workers)))
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers))


def grade_on_dask(sources: list[intake.SubmissionSource], settings: RunSettings, scheduler: str,
                  progress: Progress | None = None, keys: dict[str, dict[str, Any]] | None = None,
                  echo: Callable[[str], Any] = print) -> tuple[list[SubmissionResult], bool]:
    """Grade every source on the Dask cluster at `scheduler` (see `parse_scheduler`), writing each result
    into `settings.out_dir` as it arrives: (results in the order they finished, interrupted)."""
    distributed = require()
    progress = progress or Progress(len(sources))
    keys = keys or {}
    results: list[SubmissionResult] = []
    if not sources:
        progress.close()
        return results, False
    plain, resources, run = plain_settings(settings), _resources(settings), uuid.uuid4().hex[:8]
    with _client(distributed, scheduler, settings) as client:
        offered = client.scheduler_info()["workers"].values()
        echo(f"Dask scheduler {client.scheduler.address}: {len(offered)} worker(s) now, "
             f"{sum(w.get('resources', {}).get('GPU', 0) for w in offered)} with GPU=1")
        waiting = iter(sources)
        sent: dict[Any, intake.SubmissionSource] = {}
        arrived = distributed.as_completed()

        def finish(result: SubmissionResult, artifacts: dict[str, bytes]) -> None:
            _write(result, artifacts, settings.out_dir)
            results.append(result)
            progress.finished(result)

        def send_more() -> None:
            while len(sent) < _capacity(client, resources):
                source = next(waiting, None)
                if source is None:
                    return
                try:
                    data = payload(source)
                except (OSError, intake.Rejected) as exc:
                    finish(_unreadable(source, settings, exc), {})
                    continue
                future = client.submit(grade_task, data, plain, keys.get(source.id), key=f"grade-{source.id}-{run}",
                                       resources=resources, retries=1, pure=False)
                sent[future] = source
                arrived.add(future)

        try:
            send_more()
            for future in arrived:
                source = sent.pop(future)
                try:
                    reply = future.result()
                except Exception as exc:  # its workers died, or it failed twice, or it was cancelled
                    finish(_lost(source, settings, exc), {})
                else:
                    finish(SubmissionResult.from_dict(reply["result"]), reply["artifacts"])
                send_more()
        except KeyboardInterrupt:
            client.cancel(list(sent))
            print(f"\nunet-grader: interrupted; cancelled the {len(sent)} submission(s) sent to the cluster",
                  file=sys.stderr, flush=True)
            return results, True
        finally:
            progress.close()
    return results, False
