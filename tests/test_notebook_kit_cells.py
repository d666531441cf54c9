"""Which failing cells are the kit's: GPU-query cells, errors that only say CUDA is missing, unchanged cells."""

from __future__ import annotations

import nbformat
import pytest

from grader.notebook.kit_cells import KIT_NOTEBOOK, is_gpu_query, kit_cell, no_cuda_error


@pytest.mark.parametrize("source", [
    "torch.cuda.current_device()",
    "torch.cuda.get_device_name(0)",
    "import torch\nprint(torch.cuda.device_count())\nprint(torch.cuda.get_device_name(0))",
    "torch.cuda.set_device(id)",
    "gpu = torch.cuda.current_device()  # which one",
])
def test_gpu_query_cells(source):
    assert is_gpu_query(source) and kit_cell(source) == "gpu-query"


@pytest.mark.parametrize("source", [
    "print('hello')",
    "torch.cuda.current_device()\nunet = UNet(1, 2)",        # the student's own code rides along
    "x = torch.zeros(3).cuda()",
    "torch.cuda.get_device_name(0) +",                       # does not parse
    "for i in range(torch.cuda.device_count()):\n    pass",
])
def test_cells_that_are_more_than_gpu_queries(source):
    assert not is_gpu_query(source)


def test_errors_that_only_say_cuda_is_missing():
    assert no_cuda_error("AssertionError", "Torch not compiled with CUDA enabled")
    assert no_cuda_error("RuntimeError", "No CUDA GPUs are available")
    assert not no_cuda_error("NameError", "name 'generator' is not defined")


def test_our_kits_cells_as_given_are_not_the_students():
    kit = nbformat.read(KIT_NOTEBOOK, as_version=4)
    given = next(c.source for c in kit.cells if c.cell_type == "code" and "GrayScaleDataProvider(" in c.source)
    assert kit_cell(given) == "kit"
    assert kit_cell(given + "\n\n# my note\n") == "kit"  # blank and comment lines do not make it the student's
    assert kit_cell(given.replace("cnt=cnt", "cnt=3")) is None
