"""Notebook stage: run the (already capped) notebook with nbclient, kernel and client both in the sandbox.

Cells run one by one, as a TA runs them: a cell that raises or passes its own timeout (it is interrupted)
is left with its error and the next cell runs; only a dead kernel or the deadline for the whole notebook
(which ends before the stage's own limit) stops the run. After every cell the executed notebook is written
again, so whatever ends the run (a dead kernel, the supervisor's kill) leaves the outputs so far for the
report.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

from ..io import StageIO

# ipykernel only falls back to its inline backend when MPLBACKEND is unset; Agg would drop every figure.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def _kernel_environment(root: Path, startup: Path) -> None:
    """Writable places for Jupyter, IPython and matplotlib, a headless backend that keeps figures, and the
    parent's start-up file (CPU-only device moves) where IPython runs it before the first cell."""
    home = root / ".grader-kernel"
    for name, sub in (("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl"),
                      ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_CONFIG_DIR", "config")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(home / sub)
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    if startup.is_file():
        folder = home / "ipython" / "profile_default" / "startup"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(startup, folder / "00-grader-cpu-only.py")


def _write(nb, out_dir: Path) -> None:
    tmp = out_dir / "executed.ipynb.tmp"
    nbformat.write(nb, tmp)
    os.replace(tmp, out_dir / "executed.ipynb")


def _mark(cell, name: str, value: str) -> None:
    """Give the cell one error output saying why it ended, as nbclient does for a cell that raised."""
    cell.outputs = [o for o in cell.outputs if o.get("output_type") != "error"]
    cell.outputs.append(nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[]))


def run(io: StageIO, root: Path) -> None:
    task = io.task
    client = nb = None

    def setup() -> dict:
        nonlocal client, nb
        _kernel_environment(root, io.in_dir / "kernel_startup.py")
        nb = nbformat.read(io.in_dir / "notebook.ipynb", as_version=4)
        workdir = root / Path(task["notebook"]).parent
        # A cell past its limit is interrupted, like a TA pressing stop, and the notebook goes on.
        client = NotebookClient(nb, timeout=task["cell_timeout_s"], kernel_name="python3", allow_errors=False,
                                interrupt_on_timeout=True, startup_timeout=60, shutdown_kernel="immediate",
                                error_on_timeout={"ename": "CellTimeoutError", "evalue": "", "traceback": []},
                                resources={"metadata": {"path": str(workdir)}})
        return {}

    if not io.run_case("setup", setup):
        return
    deadline = time.monotonic() + task["deadline_s"]
    cells_run = failed = 0
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
            except CellExecutionError as exc:
                failed += 1
                if exc.ename == "CellTimeoutError":
                    _mark(cell, "CellTimeoutError", f"the cell ran longer than its limit of {client.timeout} s "
                                                    f"and was interrupted")
            except DeadKernelError:
                stop = {"reason": "dead-kernel", "error_name": "DeadKernelError",
                        "error_value": "the kernel died while running this cell (out of memory?)"}
                _mark(cell, stop["error_name"], stop["error_value"])
            _write(nb, io.out_dir)
            if stop is not None:  # nothing can run without the kernel's state: the rest did not run
                io.record("stop", index=index, **stop)
                break
            cells_run += 1
            io.record("cell", index=index, cells_run=cells_run, failed=failed)
        else:
            io.record("stop", index=None, reason="finished")
    _write(nb, io.out_dir)
