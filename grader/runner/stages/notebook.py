"""Notebook stage: run the (already capped) notebook with nbclient, kernel and client both in the sandbox.

Cells run one by one, each with its own timeout, under a deadline for the whole notebook that ends before
the stage's own limit. After every cell the executed notebook is written again, so whatever ends the run
(an error, a timeout, a dead kernel, the supervisor's kill) leaves the outputs so far for the report.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..io import StageIO

# ipykernel only falls back to its inline backend when MPLBACKEND is unset; Agg would drop every figure.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def _kernel_environment(root: Path) -> None:
    """Writable places for Jupyter, IPython and matplotlib, and a headless backend that keeps figures."""
    home = root / ".grader-kernel"
    for name, sub in (("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl"),
                      ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(home / sub)
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"


def _write(nb, out_dir: Path) -> None:
    tmp = out_dir / "executed.ipynb.tmp"
    nbformat.write(nb, tmp)
    os.replace(tmp, out_dir / "executed.ipynb")


def run(io: StageIO, root: Path) -> None:
    task = io.task
    client = nb = None

    def setup() -> dict:
        nonlocal client, nb
        _kernel_environment(root)
        nb = nbformat.read(io.in_dir / "notebook.ipynb", as_version=4)
        workdir = root / Path(task["notebook"]).parent
        client = NotebookClient(nb, timeout=task["cell_timeout_s"], kernel_name="python3", allow_errors=False,
                                startup_timeout=60, shutdown_kernel="immediate",
                                resources={"metadata": {"path": str(workdir)}})
        return {}

    if not io.run_case("setup", setup):
        return
    deadline = time.monotonic() + task["deadline_s"]
    cells_run = 0
    with client.setup_kernel():
        io.record("kernel", ok=True)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                io.record("stop", index=index, reason="deadline")
                break
            client.timeout = int(min(task["cell_timeout_s"], remaining))
            stop = None
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                stop = {"reason": "timeout", "error_name": "CellTimeoutError",
                        "error_value": f"the cell ran longer than its limit of {client.timeout} s"}
            except CellExecutionError as exc:
                stop = {"reason": "error", "error_name": exc.ename, "error_value": exc.evalue}
            except DeadKernelError:
                stop = {"reason": "dead-kernel", "error_name": "DeadKernelError",
                        "error_value": "the kernel died while running this cell (out of memory?)"}
            if stop is not None and stop["reason"] != "error":
                # mark the cell as the error output nbclient gives a failing cell, for the report
                cell.outputs.append(nbformat.v4.new_output("error", ename=stop["error_name"],
                                                           evalue=stop["error_value"], traceback=[]))
            _write(nb, io.out_dir)
            if stop is not None:
                io.record("stop", index=index, **stop)
                break
            cells_run += 1
            io.record("cell", index=index, cells_run=cells_run)
        else:
            io.record("stop", index=None, reason="finished")
    _write(nb, io.out_dir)
