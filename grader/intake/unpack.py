"""`unpack`: one submission into a fresh folder, checked, capped, with its root and notebook found."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..messages import Text
from . import reasons
from .archives import archive_entries
from .folders import folder_entries
from .layout import find_layout
from .model import Caps, SubmissionSource, Unpacked
from .reasons import Rejected
from .tree import Tree

DEFAULT_CAPS = Caps()


def unpack(source: SubmissionSource, dest: Path, caps: Caps = DEFAULT_CAPS) -> Unpacked:
    """Unpack (or, for a folder, copy) `source` into `dest`, which must be empty or absent.

    Raises `Rejected` for a submission that cannot be graded; `dest` is then left empty, since a
    half-unpacked bomb is of no use to anyone.
    """
    if source.kind == "folder" and dest.resolve().is_relative_to(source.path.resolve()):
        raise ValueError(f"the destination {dest} lies inside the submission folder {source.path}")
    tree = Tree(dest, caps)
    warnings: list[Text] = []
    checkpoints: list[tuple[str, ...]] = []  # a folder's checkpoint notebooks, listed but never read
    if source.kind == "archive":
        entries = archive_entries(source.path, caps)
    else:
        entries = folder_entries(source.path, warnings, checkpoints)
    try:
        with contextlib.closing(entries):
            for entry in entries:
                tree.add(entry)
        if tree.files == 0:
            raise Rejected(reasons.empty_submission())
        left_out = tree.checkpoint_notebooks + [tree.root.joinpath(*parts) for parts in checkpoints]
        root, notebook, found = find_layout(tree.root, left_out)
    except BaseException:
        tree.clear()
        raise
    return Unpacked(root=root, notebook=notebook, warnings=warnings + found, files=tree.files,
                    total_bytes=tree.bytes)
