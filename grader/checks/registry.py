"""The check groups, keyed by group id, in the order reports list them."""

from __future__ import annotations

from .answers import AnswersGroup
from .base import CheckContext, CheckGroup, matches
from .deconv2d import Deconv2dGroup
from .jaccard import JaccardGroup
from .notebook import NotebookGroup
from .training import TrainingGroup
from .unet_add import UNetAddGroup
from .unet_shallow import UNetShallowGroup
from .up_add import UpAddGroup

GROUPS: dict[str, type[CheckGroup]] = {
    "jaccard": JaccardGroup,
    "unet_shallow": UNetShallowGroup,
    "up_add": UpAddGroup,
    "unet_add": UNetAddGroup,
    "deconv2d": Deconv2dGroup,
    "training": TrainingGroup,
    "notebook": NotebookGroup,
    "answers": AnswersGroup,
}


def selected(ctx: CheckContext, globs: list[str] | None) -> list[CheckGroup]:
    """The groups with at least one check id that `--checks` selects."""
    groups = [cls() for cls in GROUPS.values()]
    return [g for g in groups if any(matches(cid, globs) for cid in g.check_ids(ctx))]
