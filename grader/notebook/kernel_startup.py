"""Kernel start-up file for the notebook stage: on a grader without CUDA, moving to the GPU is a no-op.

IPython runs this file in the notebook's own namespace before the first cell, so it leaves no name behind.
A TA's GPU server would run `.cuda()` and `torch.cuda.set_device(...)`; on a CPU-only grader they would
raise, and the student would lose every cell after them for the grader's missing GPU. Code gated on
`torch.cuda.is_available()` still sees False and takes its CPU branch; queries such as
`torch.cuda.get_device_name(0)` still raise, and the grader reports them as its own environment.
"""


def _grader_cpu_only():
    """Make `.cuda()` on tensors and modules, and `torch.cuda.set_device`, keep everything on the CPU."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return
    import torch

    if torch.cuda.is_available():
        return

    def stay(self, *args, **kwargs):
        return self

    def set_device(device):
        return None

    torch.Tensor.cuda = stay
    torch.nn.Module.cuda = stay
    torch.cuda.set_device = set_device


if __name__ == "__main__":
    _grader_cpu_only()
    del _grader_cpu_only
