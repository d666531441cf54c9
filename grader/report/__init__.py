"""Reports rendered from the result.json files alone: student pages, dashboard, gradebook, manual grades.

`render_all` is the pipeline (the batch grader calls it at the end of `grade`); `main` is the `report`
command.
"""

from .command import main
from .render import render_all

__all__ = ["main", "render_all"]
