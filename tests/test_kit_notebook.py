"""The solution notebook: its cell-tag contract, and a full run through nbclient on a small budget."""

from __future__ import annotations

import ast
import json
import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from .test_kit_numpy_conv import DECONV_EXAMPLE_FIRST_ROWS
from .test_kit_solution import JACCARD_PRINTED, SOLUTION

NOTEBOOK = SOLUTION / "Assignment.ipynb"

# The tags other parts of the grader rely on, in the order the lab asks for them.
ORDERED_TAGS = [
    "q1-answer",
    "train-unet",
    "q2-loss-plot",
    "q3-jaccard",
    "q4-answer",
    "q5-answer",
    "train-unet-shallow",
    "train-unet-add",
    "q7-conv-given",
    "q7-deconv2d",
    "q7-deconv-example",
]
TRAINING_TAGS = ["train-unet", "train-unet-shallow", "train-unet-add"]
BUDGET_NAMES = ("epochs", "steps", "batch_size", "num_validation")
# A budget small enough for a 2-core CPU: the run below takes well under a minute.
SMALL_BUDGET = {"epochs": 1, "steps": 2, "batch_size": 2, "num_validation": 1, "nx": 32, "ny": 32}
BUDGET_LINE = re.compile(rf"^(?P<name>{'|'.join(SMALL_BUDGET)})\s*=\s*\d+\s*$", re.MULTILINE)
JACCARD_SCALAR = re.compile(r"tensor\((?P<value>[-+.\deE]+)(?:, dtype=[\w.]+)?\)")


@pytest.fixture(scope="module")
def cells():
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def source(cell: dict) -> str:
    return "".join(cell["source"])


def first_index(cells: list[dict], tag: str) -> int:
    return next(i for i, cell in enumerate(cells) if tag in tags(cell))


def test_tags_are_present_in_the_labs_order(cells):
    positions = [first_index(cells, tag) for tag in ORDERED_TAGS]
    assert positions == sorted(positions), dict(zip(ORDERED_TAGS, positions, strict=True))


@pytest.mark.parametrize("question", ["1", "4", "5"])
def test_answer_cells_are_markdown_with_the_answer_heading(cells, question):
    (cell,) = [c for c in cells if f"q{question}-answer" in tags(c)]
    assert cell["cell_type"] == "markdown"
    assert source(cell).startswith(f"**答案 / Answer (Q{question})**")


@pytest.mark.parametrize("tag", TRAINING_TAGS)
def test_training_cells_assign_budgets_as_plain_integers(cells, tag):
    (cell,) = [c for c in cells if tag in tags(c)]
    assigned = {}
    for node in ast.parse(source(cell)).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            assigned.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    assert all(isinstance(assigned.get(name), int) for name in BUDGET_NAMES), assigned
    stored = {n.id for n in ast.walk(ast.parse(source(cell))) if isinstance(n, ast.Name)}
    assert {"curr_step", "step_loss"} <= stored


def test_code_cells_use_the_gpu_when_there_is_one(cells):
    code = "\n".join(source(c) for c in cells if c["cell_type"] == "code")
    assert "torch.cuda.is_available()" in code
    assert "gpu=is_cuda" in code


def test_given_q7_cells_define_the_helpers(cells):
    defined = {
        node.name
        for cell in cells
        if "q7-conv-given" in tags(cell)
        for node in ast.parse(source(cell)).body
        if isinstance(node, ast.FunctionDef)
    }
    assert {"convolution", "conv2d", "fill_zeros"} <= defined


def with_small_budget(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Rewrite each `name = <int>` line for the budget names; fail if one of them is never found."""
    seen = set()

    def shrink(match: re.Match[str]) -> str:
        seen.add(match["name"])
        return f"{match['name']} = {SMALL_BUDGET[match['name']]}"

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = BUDGET_LINE.sub(shrink, cell.source)
    assert seen == set(SMALL_BUDGET), f"budget lines not found: {set(SMALL_BUDGET) - seen}"
    return nb


def outputs_of(nb: nbformat.NotebookNode, tag: str) -> list[dict]:
    return [out for cell in nb.cells if tag in cell.metadata.get("tags", []) for out in cell.outputs]


def stream_text(outputs: list[dict], name: str = "stdout") -> str:
    return "".join(out["text"] for out in outputs if out["output_type"] == "stream" and out["name"] == name)


@pytest.mark.slow
def test_solution_notebook_runs_top_to_bottom(tmp_path):
    """Run the whole notebook in a kernel whose cwd is a copy of solutions/week-06, on a tiny budget.

    The budget is cut by rewriting, in every code cell, each line of the form `epochs = 5` (and likewise
    `steps`, `batch_size`, `num_validation`, `nx`, `ny`) with the regex BUDGET_LINE; the test fails if
    any of these lines is missing, since the grader caps budgets the same way.
    """
    kit = tmp_path / "week-06"
    shutil.copytree(SOLUTION, kit, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    nb = with_small_budget(nbformat.read(kit / "Assignment.ipynb", as_version=4))
    run_in = {"metadata": {"path": str(kit)}}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources=run_in).execute()

    errors = [out for cell in nb.cells for out in cell.get("outputs", []) if out["output_type"] == "error"]
    assert not errors
    warned = [cell.id for cell in nb.cells if "Warning" in stream_text(cell.get("outputs", []), "stderr")]
    assert not warned, f"cells printing warnings: {warned}"

    values = [float(m["value"]) for m in JACCARD_SCALAR.finditer(stream_text(outputs_of(nb, "q3-jaccard")))]
    assert len(values) == len(JACCARD_PRINTED)
    for value, (printed, tolerance) in zip(values, JACCARD_PRINTED, strict=True):
        assert abs(value - printed) <= tolerance

    assert any("image/png" in out.get("data", {}) for out in outputs_of(nb, "q2-loss-plot"))
    for tag in TRAINING_TAGS:
        assert "validation dice coeff" in stream_text(outputs_of(nb, tag))
    printed = stream_text(outputs_of(nb, "q7-deconv-example"))
    deconv = [float(n) for n in re.findall(r"-?\d+(?:\.\d*)?", printed)]
    assert deconv[:10] == [v for row in DECONV_EXAMPLE_FIRST_ROWS for v in row]
