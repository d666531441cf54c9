"""`unet-grader assign`: the region markers, the generated student kit, and `--check`.

Tests that change files work on copies in tmp_path; the committed kit is only read.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.assign import main, render_kit
from grader.assign.generate import render_notebook
from grader.assign.regions import MARKDOWN, PYTHON, RegionError, blank, find_regions
from grader.cli import main as cli_main

from .test_kit_numpy_conv import CONV_EXAMPLE
from .test_kit_solution import (
    PARAMS_UNET,
    REPO,
    SOLUTION,
    cells_tagged,
    exec_cells,
    forget_modules,
    load_kit_package,
)

ASSIGNMENT = REPO / "assignment" / "week-06"
NOTEBOOK = ASSIGNMENT / "Assignment.ipynb"
TEXT_SUFFIXES = {".py", ".ipynb", ".md"}

SAMPLE = """\
def f(x):
    y = 1
    # BEGIN SOLUTION Q9
    # PROMPT: 中文提示
    # PROMPT: the hint
    return x + y
    # END SOLUTION


# BEGIN SOLUTION Q10 no-raise
print("plot")
# END SOLUTION
"""

SAMPLE_BLANKED = """\
def f(x):
    y = 1
    # TODO (Q9): 中文提示
    #   the hint
    raise NotImplementedError('Q9: 请按上面的 TODO 完成这里 / complete this part as the TODO above says')


# TODO (Q10): 请完成这里的代码 / complete the code here
"""


# --- the markers -----------------------------------------------------------------------------------


def test_regions_are_found_with_label_prompt_and_body():
    first, second = find_regions(SAMPLE, PYTHON)
    assert (first.label, first.indent, first.raises) == ("Q9", "    ", True)
    assert first.prompt == ("中文提示", "the hint")
    assert first.body == ("    return x + y",)
    assert (second.label, second.raises, second.prompt, second.body) == ("Q10", False, (), ('print("plot")',))


def test_blank_writes_todo_comments_and_raise_at_the_region_indent():
    assert blank(SAMPLE, PYTHON) == SAMPLE_BLANKED


def test_markdown_answer_becomes_a_placeholder():
    text = "**答案 / Answer (Q1)**\n\n<!-- BEGIN SOLUTION Q1 -->\nB*H*W*C\n<!-- END SOLUTION -->\nafter"
    out = blank(text, MARKDOWN)
    assert out.startswith("**答案 / Answer (Q1)**\n\n") and out.endswith("\nafter")
    assert "B*H*W*C" not in out and "SOLUTION" not in out
    assert "Write your answer here" in out


def test_text_without_regions_is_unchanged():
    text = "x = 1\n# a comment about the solution\n"
    assert blank(text, PYTHON) == text


@pytest.mark.parametrize(
    "text",
    [
        "# BEGIN SOLUTION Q1\nx = 1\n",  # never closed
        "x = 1\n# END SOLUTION\n",  # stray END
        "# BEGIN SOLUTION Q1\n# BEGIN SOLUTION Q2\n# END SOLUTION\n# END SOLUTION\n",  # nested
        "# BEGIN SOLUTION Q1 keep\nx = 1\n# END SOLUTION\n",  # unknown flag
        "#BEGIN SOLUTION Q1\nx = 1\n# END SOLUTION\n",  # near-miss marker
        "# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n",  # no label
        "def f():\n    # BEGIN SOLUTION Q1 no-raise\n    return 1\n    # END SOLUTION\n",  # empty body left
    ],
)
def test_malformed_regions_are_refused(text):
    with pytest.raises(RegionError):
        blank(text, PYTHON)


def test_notebook_outputs_are_cleared_and_tags_kept():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": 7,
                "metadata": {"tags": ["q7-deconv2d"], "execution": {"iopub.status.busy": "2024"}},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}],
                "source": ["# BEGIN SOLUTION Q7\n", "x = 1\n", "# END SOLUTION"],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (cell,) = json.loads(render_notebook(json.dumps(nb)))["cells"]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["metadata"] == {"tags": ["q7-deconv2d"]}
    lines = "".join(cell["source"]).splitlines()
    assert lines[-1].startswith("raise NotImplementedError(") and "x = 1" not in lines


def test_cli_passes_options_to_assign():
    assert cli_main(["assign", "--check", "--solutions", str(SOLUTION), "--assignment", str(ASSIGNMENT)]) == 0


# --- regeneration and --check ----------------------------------------------------------------------


@pytest.fixture
def kit_copies(tmp_path):
    """Copies of solutions/week-06 and the committed assignment/week-06 to edit freely."""
    solutions, assignment = tmp_path / "solutions", tmp_path / "assignment"
    skip = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    shutil.copytree(SOLUTION, solutions, ignore=skip)
    shutil.copytree(ASSIGNMENT, assignment, ignore=skip)
    return solutions, assignment


def test_committed_kit_is_up_to_date():
    assert main(check=True, solutions=SOLUTION, assignment=ASSIGNMENT) == 0


def test_check_names_the_stale_file_after_a_solution_edit(kit_copies, capsys):
    solutions, assignment = kit_copies
    dice = solutions / "unet" / "dice_loss.py"
    dice.write_text(dice.read_text(encoding="utf-8") + "\nEPS_NOTE = 'edited'\n", encoding="utf-8")
    assert main(check=True, solutions=solutions, assignment=assignment) == 1
    assert str(assignment / "unet" / "dice_loss.py") in capsys.readouterr().err
    assert main(check=False, solutions=solutions, assignment=assignment) == 0
    assert "EPS_NOTE = 'edited'" in (assignment / "unet" / "dice_loss.py").read_text(encoding="utf-8")
    assert main(check=True, solutions=solutions, assignment=assignment) == 0


def test_check_catches_extra_and_missing_files_and_assign_repairs_them(kit_copies, capsys):
    solutions, assignment = kit_copies
    (assignment / "unet" / "eval.py").unlink()
    (assignment / "notes.txt").write_text("not part of the kit", encoding="utf-8")
    (assignment / "unet" / "__pycache__").mkdir()
    (assignment / "unet" / "__pycache__" / "eval.cpython-311.pyc").write_bytes(b"ignored")
    assert main(check=True, solutions=solutions, assignment=assignment) == 1
    err = capsys.readouterr().err
    assert "eval.py" in err and "notes.txt" in err and ".pyc" not in err
    assert main(check=False, solutions=solutions, assignment=assignment) == 0
    assert not (assignment / "notes.txt").exists() and (assignment / "unet" / "eval.py").is_file()
    assert main(check=True, solutions=solutions, assignment=assignment) == 0


def test_bad_markers_stop_assign_naming_the_file(kit_copies, capsys):
    solutions, assignment = kit_copies
    model = solutions / "unet" / "unet_model.py"
    broken = model.read_text(encoding="utf-8").replace("# END SOLUTION", "# END", 1)
    model.write_text(broken, encoding="utf-8")
    assert main(check=False, solutions=solutions, assignment=assignment) == 2
    assert "unet_model.py" in capsys.readouterr().err


def test_generation_is_byte_identical(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(check=False, solutions=SOLUTION, assignment=first) == 0
    assert main(check=False, solutions=SOLUTION, assignment=second) == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    assert render_kit(SOLUTION) == render_kit(SOLUTION)


# --- no solution text in the kit -------------------------------------------------------------------


def solution_texts(root: Path) -> list[str]:
    """Each text file of the kit as plain lines; notebook cells are joined one after another."""
    texts = []
    paths = (p for p in root.rglob("*") if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts)
    for path in sorted(paths):
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            texts.extend("".join(cell["source"]) for cell in cells)
        else:
            texts.append(path.read_text(encoding="utf-8"))
    return texts


def split_by_markers(texts: list[str]) -> tuple[set[str], set[str]]:
    """(stripped lines inside solution regions, stripped lines outside), by a plain scan of the markers."""
    inside, outside = set(), set()
    for text in texts:
        in_region = False
        for line in text.splitlines():
            stripped = line.strip()
            if "BEGIN SOLUTION" in stripped:
                in_region = True
            elif "END SOLUTION" in stripped:
                in_region = False
            elif in_region and not stripped.startswith("# PROMPT:"):
                inside.add(stripped)
            else:
                outside.add(stripped)
    return inside, outside


def test_no_solution_line_survives_in_the_kit():
    inside, outside = split_by_markers(solution_texts(SOLUTION))
    # lines that only the solution has: longer than trivial syntax, and not also in the given code
    secret = {line for line in inside - outside if len(line.replace(" ", "")) >= 8}
    assert "union = input.sum() + target.sum() - inter" in secret  # the scan really found the regions
    assert "return result[:, 1:-1, 1:-1]" in secret
    kit_lines = {line.strip() for text in solution_texts(ASSIGNMENT) for line in text.splitlines()}
    assert not secret & kit_lines
    markers = ("BEGIN SOLUTION", "END SOLUTION", "PROMPT:")
    assert not any(marker in line for line in kit_lines for marker in markers)


# --- the skeleton works where it should, and stops where the student must work -------------------------


@pytest.fixture(scope="module")
def skeleton():
    aliases = ("kit_assignment_unet", "kit_assignment_image_utils")
    try:
        yield (
            load_kit_package(ASSIGNMENT, "unet", aliases[0]),
            load_kit_package(ASSIGNMENT, "image_utils", aliases[1]),
        )
    finally:
        forget_modules(*aliases)


def test_skeleton_given_parts_work(skeleton):
    unet, image_utils = skeleton
    net = unet.UNet(1, 2)
    assert sum(p.numel() for p in net.parameters()) == PARAMS_UNET
    ones = torch.ones(3, 3)
    assert unet.DiceCoeff().forward(ones, ones).item() == pytest.approx(1.0)
    assert callable(unet.eval_net) and callable(unet.dice_coeff)
    x, y = image_utils.image_gen.GrayScaleDataProvider(32, 32, seed=0)(2)
    assert x.shape == (2, 32, 32, 1) and y.shape == (2, 32, 32, 2)


def test_skeleton_todos_raise_not_implemented(skeleton):
    unet, _ = skeleton
    with pytest.raises(NotImplementedError):
        unet.JaccardCoeff().forward(torch.ones(2), torch.ones(2))
    for build in (lambda: unet.UNet_shallow(1, 2), lambda: unet.UNet_add(1, 2), lambda: unet.up_add(64, 64)):
        with pytest.raises(NotImplementedError):
            build()


def test_skeleton_notebook_keeps_conv2d_and_blanks_deconv2d():
    ns = exec_cells(NOTEBOOK, "q7-conv-given", "q7-deconv2d")
    x, weights = np.ones((2, 5, 5)), np.ones((1, 2, 3, 3))
    assert ns["conv2d"](x, weights)[0, 2, 2] == 18.0
    with pytest.raises(NotImplementedError):
        ns["deconv2d"](np.ones((1, 2, 2)), np.ones((1, 1, 3, 3)))
    exec_cells(NOTEBOOK, "q7-conv-example", namespace=ns)
    np.testing.assert_array_equal(ns["conv2d"](ns["conv_input"], ns["conv_weights"])[0], CONV_EXAMPLE)


def test_skeleton_notebook_leaves_the_questions_to_the_student():
    (plot,) = cells_tagged(NOTEBOOK, "q2-loss-plot")
    assert "plot(" not in plot and "TODO (Q2)" in plot
    for question in ("1", "4", "5"):
        (answer,) = cells_tagged(NOTEBOOK, f"q{question}-answer")
        heading = f"**答案 / Answer (Q{question})**"
        assert answer.startswith(heading) and "Write your answer here" in answer
        # only the heading is left once comments are dropped: an untouched answer counts as blank
        assert re.sub(r"<!--.*?-->", "", answer, flags=re.DOTALL).strip() == heading
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    solution_cells = json.loads((SOLUTION / "Assignment.ipynb").read_text(encoding="utf-8"))["cells"]
    assert [c.get("metadata", {}).get("tags") for c in cells] == [
        c.get("metadata", {}).get("tags") for c in solution_cells
    ]
