"""Notebook execution in the stage (nbclient), the capped budget, partial credit, and the Q2/Q3 outputs."""

from __future__ import annotations

import dataclasses
import time

import nbformat
import pytest

from grader.checks.notebook import NotebookGroup, printed_values
from grader.notebook.execute import PNG_MAGIC
from grader.training.profiles import CPU

from .conftest import by_id

NOTEBOOK = "Assignment.ipynb"


def _write(path, sources: list[str], tags: dict[int, list[str]] | None = None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    for index, cell_tags in (tags or {}).items():
        nb.cells[index].metadata["tags"] = cell_tags
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_the_solution_notebook_runs_within_the_cpu_budget(submission, run_group, tmp_path):
    root = submission()
    start = time.monotonic()
    checks = by_id(run_group(NotebookGroup(), root, notebook=root / NOTEBOOK, profile="cpu"))
    assert time.monotonic() - start < CPU.notebook.timeout_s
    runs = checks["notebook/runs"]
    assert runs.status == "passed", runs.message
    assert runs.details["cells_run"] == runs.details["cells_total"] > 20
    # as written, the three training cells take about 70 minutes on this CPU: the cap made it fit
    assert {c["name"] for c in runs.details["capped"]} == {"epochs", "steps", "batch_size", "num_validation"}
    assert checks["notebook/loss-plot"].status == "passed"
    assert checks["notebook/jaccard-output"].status == "passed", checks["notebook/jaccard-output"].message
    artifacts = tmp_path / "run0" / "artifacts"
    assert runs.details["artifacts"] == {"executed_notebook": "artifacts/executed.ipynb",
                                         "loss_plot": "artifacts/q2_loss.png"}
    assert (artifacts / "q2_loss.png").read_bytes().startswith(PNG_MAGIC)
    executed = nbformat.read(artifacts / "executed.ipynb", as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code" and c.source.strip())


@pytest.mark.slow
def test_an_early_error_is_recorded_and_the_cells_after_it_still_run(submission, run_group, tmp_path):
    root = submission()
    nb = nbformat.read(root / NOTEBOOK, as_version=4)
    broken = next(i for i, c in enumerate(nb.cells) if "GrayScaleDataProvider(" in c.source)
    nb.cells[broken].source = nb.cells[broken].source.replace("GrayScale", "GreyScale")
    nbformat.write(nb, root / NOTEBOOK)
    submitted = (root / NOTEBOOK).read_bytes()
    checks = by_id(run_group(NotebookGroup(), root, notebook=root / NOTEBOOK, profile="cpu"))
    runs = checks["notebook/runs"]
    assert runs.status == "failed" and 0 < runs.score < runs.max_score
    failing = runs.details["failing_cell"]
    assert failing["index"] == broken and failing["error_name"] == "AttributeError"
    assert failing["code_cell"] == 2 and failing["changed"] is True and failing["cause"] == "student"
    assert "GreyScaleDataProvider" in failing["error_value"] and "GreyScaleDataProvider" in failing["source"]
    assert "GreyScaleDataProvider" in failing["traceback"] and "\x1b[" not in failing["traceback"]
    # every cell that needed the generator fails too, and each one is listed; the others still ran
    failures = runs.details["failures"]
    assert failures[0] == failing and all(f["cause"] == "student" for f in failures)
    assert {f["error_name"] for f in failures[1:]} == {"NameError"}
    assert runs.details["cells_run"] == runs.details["cells_total"] - len(failures)
    assert runs.score == pytest.approx(runs.max_score * runs.details["cells_run"] / runs.details["cells_total"],
                                       abs=1e-3)
    assert "2 (AttributeError" in runs.message
    plot = checks["notebook/loss-plot"]
    assert plot.status == "failed" and "raised an error" in plot.message
    # the Jaccard examples need no generator: one error does not hide them
    assert checks["notebook/jaccard-output"].status == "passed", checks["notebook/jaccard-output"].message
    # the submitted notebook is left as it was, for the checks that read it (deconv2d)
    assert (root / NOTEBOOK).read_bytes() == submitted
    assert (tmp_path / "run0" / "artifacts" / "executed.ipynb").is_file()


@pytest.mark.slow
def test_an_hour_long_training_cell_is_capped_and_a_late_plot_counts(tmp_path, run_group):
    path = _write(tmp_path / NOTEBOOK, [
        "import time\nimport matplotlib.pyplot as plt",
        "epochs = 3600  # an hour\nsteps, batch_size = 1000, 64\ncurr_step, step_loss = [], []\n"
        "for e in range(epochs):\n    for s in range(steps):\n        time.sleep(0.001)\n"
        "        curr_step.append(e * steps + s)\n        step_loss.append(1 / (1 + e * steps + s))",
        "print(epochs, steps, batch_size)",
        "plt.plot(curr_step, step_loss)\nplt.xlabel('step')\nplt.ylabel('loss')\nplt.show()",
    ], tags={1: ["train-unet"]})
    start = time.monotonic()
    checks = by_id(run_group(NotebookGroup(), tmp_path, notebook=path, profile="cpu"))
    assert time.monotonic() - start < 60
    assert checks["notebook/runs"].status == "passed", checks["notebook/runs"].message
    assert checks["notebook/loss-plot"].status == "passed"
    assert checks["notebook/loss-plot"].details["cells"] == [3]
    assert checks["notebook/jaccard-output"].status == "failed"
    executed = nbformat.read(tmp_path / "run0" / "artifacts" / "executed.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"].split() == ["1", "2", "2"]


@pytest.mark.slow
def test_a_loss_plot_cell_that_fails_does_not_count(tmp_path, run_group):
    path = _write(tmp_path / NOTEBOOK, [
        "import matplotlib.pyplot as plt\ncurr_step, step_loss = [0, 1, 2], [0.7, 0.5, 0.4]",
        "fig, ax = plt.subplots()\nax.plot(curr_steps, step_loss)\nplt.show()",
    ], tags={1: ["q2-loss-plot"]})
    checks = by_id(run_group(NotebookGroup(), tmp_path, notebook=path, profile="cpu"))
    assert checks["notebook/runs"].details["failing_cell"]["error_name"] == "NameError"
    plot = checks["notebook/loss-plot"]
    assert plot.status == "failed" and "raised an error" in plot.message
    assert "loss_plot" not in plot.details["artifacts"]
    assert not (tmp_path / "run0" / "artifacts" / "q2_loss.png").exists()


@pytest.mark.slow
def test_a_cell_that_never_ends_is_interrupted_at_its_limit_and_the_rest_runs(tmp_path, run_group):
    budget = dataclasses.replace(CPU.notebook, cell_timeout_s=3, timeout_s=40)
    quick = dataclasses.replace(CPU, notebook=budget)
    path = _write(tmp_path / NOTEBOOK, ["x = 1", "while True:\n    pass", "print(x)"])
    checks = by_id(run_group(NotebookGroup(), tmp_path, notebook=path, profile=quick))
    runs = checks["notebook/runs"]
    assert runs.status == "timeout"
    assert runs.details["cells_run"] == 2 and runs.details["cells_total"] == 3
    assert runs.details["failing_cell"]["index"] == 1
    assert runs.details["failing_cell"]["error_name"] == "CellTimeoutError"
    assert runs.score == pytest.approx(runs.max_score * 2 / 3, abs=1e-3)
    executed = nbformat.read(tmp_path / "run0" / "artifacts" / "executed.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "1\n"


@pytest.mark.parametrize("printed, values", [
    ("tensor(1.0000, dtype=torch.float64)\ntensor(0.3333, dtype=torch.float64)\n"
     "tensor(1.1111e-05, dtype=torch.float64)\ntensor(1., dtype=torch.float64)",
     [1.0, 0.3333, 1.1111e-05, 1.0]),
    ("tensor([[1., 0.],\n        [0., 1.]], dtype=torch.float64)\ntensor(0.5000, dtype=torch.float64)",
     [0.5]),
    ("1.0\n0.3333333333333333\n1.1110987655692716e-05\n1.0",
     [1.0, 0.3333333333333333, 1.1110987655692716e-05, 1.0]),
    ("[[1. 0.]\n [0. 1.]]\njaccard(eye, ones) = 0.3333", [0.3333]),
])
def test_printed_values(printed, values):
    assert printed_values(printed) == values


def test_a_submission_without_notebook_fails_the_group(submission, run_group):
    checks = run_group(NotebookGroup(), submission(), notebook=None, profile="cpu")
    assert [c.status for c in checks] == ["failed"] * 3
    assert all(c.score == 0 for c in checks)
    assert all("no notebook" in c.message for c in checks)
