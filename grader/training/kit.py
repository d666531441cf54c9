"""The grader's own copy of the lab's data generator: the kit's `image_utils`, never the student's."""

from __future__ import annotations

import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTION = REPO_ROOT / "solutions" / "week-06"
IMAGE_UTILS = SOLUTION / "image_utils"
IMAGE_GEN = IMAGE_UTILS / "image_gen.py"


class KitError(RuntimeError):
    """The reference kit is not where the grader expects it (a grader installation problem)."""


def image_gen_source() -> str:
    """The text of the kit's `image_gen.py`, passed to the sandbox as a stage input."""
    try:
        return IMAGE_GEN.read_text(encoding="utf-8")
    except OSError as exc:
        raise KitError(f"the lab kit's generator {IMAGE_GEN} is missing: install the grader from its "
                       f"repository (pip install -e .)") from exc


def load_image_gen(path: Path = IMAGE_GEN) -> types.ModuleType:
    """The generator file as a module under a private name, so no `image_utils` on sys.path can shadow it
    (compiled from its text: no bytecode is written beside the kit)."""
    if not path.is_file():
        raise KitError(f"the lab kit's generator {path} is missing")
    module = types.ModuleType("_grader_kit_image_gen")
    module.__file__ = str(path)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module
