"""Hand-ins built on the course's original 2019 kit: the notebook runs as a TA runs it on a CPU-only grader.

The kit's GPU-query cells raise without CUDA and cost nothing; `.cuda()` and `set_device` do not stop the
run; a student's own failing cell is recorded and the cells after it still run; a capper that cannot
take a cell apart never costs more than the notebook group.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from grader import intake, pipeline
from grader.checks import notebook as notebook_checks
from grader.checks.notebook import NotebookGroup
from grader.rubric import load
from grader.settings import RunSettings

from . import kit2019
from .conftest import by_id, pack

pytestmark = pytest.mark.slow

GPU_CELLS = ["torch.cuda.current_device()", "torch.cuda.device_count()", "torch.cuda.get_device_name(0)",
             "torch.cuda.set_device(id)"]
JACCARD_CELL = ("class Jaccard:\n    def forward(self, a, b):\n        i = (a * b).sum()\n"
                "        return (i + 1e-4) / (a.sum() + b.sum() - i + 1e-4)\n"
                "eye = torch.from_numpy(np.eye(3))\nones = torch.from_numpy(np.ones((3, 3)))\n"
                "zeros = torch.from_numpy(np.zeros((3, 3)))\n"
                "for a, b in [(eye, eye), (eye, ones), (zeros, ones), (zeros, zeros)]:\n"
                "    print(Jaccard().forward(a, b))")


def _small(path, middle: str = "print('no error here')"):
    """A short notebook with the kit's idioms and GPU cells, `middle` as its 9th code cell, and the Q2/Q3
    outputs after it."""
    sources = [
        "from __future__ import print_function, division\n%load_ext autoreload\n%autoreload 2\n"
        "import numpy as np\nimport torch\nimport torch.nn.functional as F\nimport matplotlib.pyplot as plt",
        "is_cuda = torch.cuda.is_available()\nprint(is_cuda)",
        *GPU_CELLS,
        "net = torch.nn.Linear(2, 1).cuda()\nx = torch.ones(3, 2).cuda()\nprint(F.sigmoid(net(x)).data.numpy().shape)",
        "epochs = 5\nsteps = 3\ncurr_step, step_loss = [], []\nfor e in range(epochs):\n    for s in range(steps):\n"
        "        curr_step.append(e * steps + s)\n        step_loss.append(1 / (1 + e * steps + s))",
        middle,
        "plt.plot(curr_step, step_loss)\nplt.show()",
        JACCARD_CELL,
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Week 7"), *(nbformat.v4.new_code_cell(s) for s in sources)]
    nbformat.write(nb, path)
    return path


def test_an_original_kit_hand_in_gets_every_notebook_point_on_a_cpu(tmp_path, run_group):
    root, path = kit2019.submission(tmp_path / "sub")
    checks = by_id(run_group(NotebookGroup(), root, notebook=path, profile="cpu"))
    runs = checks["notebook/runs"]
    assert runs.status == "passed" and runs.score == runs.max_score, runs.message
    assert runs.details["cells_total"] == 36 and runs.details["cells_run"] == runs.details["cells_counted"] == 34
    # the two queries that raise without CUDA are the grader's environment, named in the message
    excused = runs.details["failures"]
    assert [f["source"] for f in excused] == ["torch.cuda.current_device()", "torch.cuda.get_device_name(0)"]
    assert all(f["cause"] == "environment" and f["kit_cell"] == "gpu-query" and not f["changed"] for f in excused)
    assert runs.details["environment_cells"] == [3, 5] and "failing_cell" not in runs.details
    assert "Code cells 3, 5 failed only because the grader has no GPU (CUDA): not counted" in runs.message
    assert {c["name"] for c in runs.details["capped"]} == {"epochs", "steps", "batch_size", "num_validation"}
    assert checks["notebook/loss-plot"].status == "passed"
    jaccard = checks["notebook/jaccard-output"]
    assert jaccard.status == "passed", jaccard.message
    # what counts is this run's output, not the 0.5000 the student's notebook kept
    assert "0.5000" not in jaccard.details["output"] and "1.1111e-05" in jaccard.details["output"]
    executed = nbformat.read(tmp_path / "run0" / "artifacts" / "executed.ipynb", as_version=4)
    add = executed.cells[kit2019.find(executed, "UNet_add(1, 2).cuda()")]
    assert add.execution_count and not [o for o in add.outputs if o.output_type == "error"]
    assert "Tesla K80" not in json.dumps(executed)


def test_a_students_own_failing_cell_is_recorded_and_the_rest_still_runs(tmp_path, run_group):
    path = _small(tmp_path / "week7.ipynb", middle="print(jaccard_score)")
    checks = by_id(run_group(NotebookGroup(), tmp_path, notebook=path, profile="cpu"))
    runs = checks["notebook/runs"]
    assert runs.status == "failed"
    own = [f for f in runs.details["failures"] if f["cause"] == "student"]
    assert [(f["code_cell"], f["cell_number"], f["error_name"], f["changed"]) for f in own] == \
        [(9, 10, "NameError", True)]
    assert runs.details["failing_cell"] == own[0] and "jaccard_score" in own[0]["error_value"]
    # 11 code cells, 2 of them GPU queries that raise here: 9 counted, 8 ran
    assert runs.details["cells_total"] == 11 and runs.details["cells_counted"] == 9
    assert runs.details["cells_run"] == 8
    assert runs.score == pytest.approx(runs.max_score * 8 / 9, abs=1e-3)
    assert "9 (NameError: name 'jaccard_score' is not defined)" in runs.message
    assert "Code cells 3, 5 failed only because the grader has no GPU" in runs.message
    # the cells after the error ran: the loss plot and the Jaccard values are there
    assert checks["notebook/loss-plot"].status == "passed"
    assert checks["notebook/jaccard-output"].status == "passed", checks["notebook/jaccard-output"].message


def test_wrong_jaccard_output_still_fails_after_the_gpu_cells(tmp_path, run_group):
    path = _small(tmp_path / "week7.ipynb")
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source = nb.cells[-1].source.replace("- i + 1e-4", "+ 1e-4")  # Dice-like, not Jaccard
    nbformat.write(nb, path)
    checks = by_id(run_group(NotebookGroup(), tmp_path, notebook=path, profile="cpu"))
    assert checks["notebook/runs"].status == "passed", checks["notebook/runs"].message
    assert checks["notebook/jaccard-output"].status == "failed"


def _grade(tmp_path, root, checks: list[str]):
    archive = pack(root, tmp_path / "hand-in.tar.gz")
    settings = RunSettings(out_dir=tmp_path / "out", work_root=tmp_path / "work", rubric=load(), seed=3,
                           checks=checks)
    (source,) = intake.collect([archive])
    return by_id(pipeline.grade(source, settings).checks)


def test_a_notebook_that_rewrites_itself_and_defeats_the_capper_costs_only_its_own_cells(tmp_path):
    root, path = kit2019.submission(tmp_path / "sub")
    nb = nbformat.read(path, as_version=4)
    small = nbformat.read(_small(tmp_path / "small.ipynb"), as_version=4)
    rewrite = ("import glob\nfor name in glob.glob('*.ipynb'):\n    text = open(name, encoding='utf-8').read()\n"
               "    open(name, 'w', encoding='utf-8').write(text.replace('Answer 1：The', 'Answer 1：FORGED'))")
    nb.cells = [*nb.cells[:40], *small.cells, nbformat.v4.new_code_cell(rewrite),
                nbformat.v4.new_code_cell("epochs = " + "-" * 5000 + "5"),
                nbformat.v4.new_code_cell("steps = " + "-" * 1000 + "5\nprint(steps)")]
    kit2019.write(path, nb)
    checks = _grade(tmp_path, root, ["notebook*", "answers*"])
    runs = checks["notebook/runs"]
    assert runs.status == "failed", runs.message
    deep = [f for f in runs.details["failures"] if f["cause"] == "student"]
    assert len(deep) == 1 and deep[0]["source"].startswith("epochs = ----")
    assert [u["reason"] for u in runs.details["uncapped"]] == ["nested too deeply for the parser"]
    assert {"cell": len(nb.cells) - 1, "name": "steps", "before": "-" * 1000 + "5",
            "after": "min(" + "-" * 1000 + "5, 2)"} in runs.details["capped"]
    assert checks["notebook/jaccard-output"].status == "passed"
    # the cell rewrote the box's notebook; the TA reads the grader's own copy
    (boxed,) = (tmp_path / "work").glob("*/box/submission/UNet_week7.ipynb")
    assert "Answer 1：FORGED" in boxed.read_text(encoding="utf-8")
    q1 = checks["answers/q1"]
    assert "FORGED" not in q1.details["answer"] and q1.details["answer"] == kit2019.ANSWER_1[len("Answer 1："):]


def test_a_grader_failure_in_prepare_costs_only_that_group(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(notebook_checks, "capped_copy", broken)
    root, _ = kit2019.submission(tmp_path / "sub")
    checks = _grade(tmp_path, root, ["notebook*", "answers*", "jaccard*"])
    for cid in ("notebook/runs", "notebook/loss-plot", "notebook/jaccard-output"):
        assert checks[cid].status == "error" and "internal grader error (tell the TA)" in checks[cid].message
        assert "评分程序内部错误" in checks[cid].message and "RecursionError" in checks[cid].message
    assert all(c.status == "passed" for cid, c in checks.items() if cid.startswith("jaccard")), \
        {cid: c.message for cid, c in checks.items()}
    assert checks["answers/q1"].details["found_by"] == "numbered"
