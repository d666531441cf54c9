"""The check groups, keyed by group id, in the order reports list them."""

from __future__ import annotations

from .base import CheckContext, CheckGroup, matches
from .jaccard import JaccardGroup

GROUPS: dict[str, type[CheckGroup]] = {
    "jaccard": JaccardGroup,
}


def selected(ctx: CheckContext, globs: list[str] | None) -> list[CheckGroup]:
    """The groups with at least one check id that `--checks` selects."""
    groups = [cls() for cls in GROUPS.values()]
    return [g for g in groups if any(matches(cid, globs) for cid in g.check_ids(ctx))]
