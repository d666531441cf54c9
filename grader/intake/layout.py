"""Finding the submission root (the folder holding unet/) and the notebook, wherever students nest them."""

from __future__ import annotations

import os
from pathlib import Path

from ..messages import Text
from . import reasons
from .reasons import Rejected

KIT_NOTEBOOK = "Assignment.ipynb"


def find_layout(top: Path, checkpoints: list[Path] | None = None) -> tuple[Path, Path | None, list[Text]]:
    """(root, notebook, warnings) for the unpacked tree at `top`, which the intake has cleared of junk.

    `checkpoints` are the Jupyter autosave copies it left out (never written, never graded), named in
    the warning that says which notebook is graded.
    """
    folders: list[Path] = []
    notebooks: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if "unet" in dirnames:
            folders.append(here)
        notebooks += [here / f for f in filenames if f.lower().endswith(".ipynb")]
    warnings: list[Text] = []
    if folders:
        # The folder that also holds a notebook (the student's week-06, not a stray copy of unet/),
        # then the shallowest.
        root = min(folders, key=lambda d: (not any(n.parent == d for n in notebooks), len(d.parts), str(d)))
        if len(folders) > 1:
            others = [_rel(d, top) for d in folders if d != root]
            warnings.append(reasons.several_roots(_rel(root, top), others))
    elif notebooks:
        # Without unet/ the deconv2d check can still grade the notebook: grade from its folder.
        chosen = _best(notebooks)
        root = chosen.parent
        warnings.append(reasons.no_unet(_rel(chosen, top)))
    else:
        raise Rejected(reasons.nothing_to_grade(sorted(_rel(p, top) for p in top.iterdir())))
    return root, _pick_notebook(root, notebooks, checkpoints or [], top, warnings), warnings


def _pick_notebook(root: Path, notebooks: list[Path], checkpoints: list[Path], top: Path,
                   warnings: list[Text]) -> Path | None:
    """The kit's notebook in the root, else the best one in the root, under it, then anywhere.

    When the hand-in holds other notebooks (stray copies, Jupyter's checkpoints) a warning says which one
    is graded, so a TA can tell. A notebook found outside the root is moved into it: grading copies only
    the root, and the notebook imports unet from its own folder, which is where the kit has it.
    """
    in_root = [n for n in notebooks if n.parent == root]
    if (root / KIT_NOTEBOOK).is_file():
        in_root = [root / KIT_NOTEBOOK]
    tiers = (in_root, [n for n in notebooks if root in n.parents], notebooks)
    for candidates in tiers:
        if candidates:
            chosen = _best(candidates)
            others = sorted(_rel(n, top) for n in [*notebooks, *checkpoints] if n != chosen)
            if others:
                warnings.append(reasons.several_notebooks(_rel(chosen, top), others))
            if root not in chosen.parents:
                warnings.append(reasons.notebook_moved(_rel(chosen, top), _rel(root, top)))
                chosen = chosen.rename(root / chosen.name)
            return chosen
    warnings.append(reasons.no_notebook())
    return None


def _best(notebooks: list[Path]) -> Path:
    """The kit's name in any case, then a name that mentions it, then the shallowest, then the largest
    (a notebook run with its outputs kept is larger than a blank copy)."""

    def rank(n: Path) -> tuple[bool, bool, int, int, str]:
        name = n.name.lower()
        size = n.stat().st_size
        return (name != KIT_NOTEBOOK.lower(), "assignment" not in name, len(n.parts), -size, str(n))

    return min(notebooks, key=rank)


def _rel(path: Path, top: Path) -> str:
    """A path as a TA reads it in a warning: relative to the unpacked tree, folders with a slash."""
    if path == top:
        return "./"
    return path.relative_to(top).as_posix() + ("/" if path.is_dir() else "")
