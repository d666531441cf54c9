"""The check groups, keyed by group id, in the order reports list them; and the run's configuration check."""

from __future__ import annotations

from ..messages import Text, text
from ..rubric import Rubric
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


def all_check_ids() -> list[str]:
    """Every check id, in report order. The ids are static per group: no group reads the context for them,
    so they are known before any submission is opened."""
    return [cid for cls in GROUPS.values() for cid in cls().check_ids(None)]


class ConfigError(ValueError):
    """A rubric or a `--checks` selection that does not fit the check ids: a usage error, said in both languages."""

    def __init__(self, message: Text):
        super().__init__(f"{message.zh}\n{message.en}")
        self.message = message


def validate(rubric: Rubric, globs: list[str] | None) -> list[str]:
    """The check ids `globs` selects (all when None); ConfigError, naming the ids at fault and listing the
    valid ones, when the rubric lacks a check id or gives points to an unknown one, or when a glob selects
    no check id."""
    ids = all_check_ids()
    valid = ", ".join(ids)
    missing = [cid for cid in ids if cid not in rubric.table]
    unknown = sorted(set(rubric.table) - set(ids))
    if missing or unknown:
        zh, en = [], []
        if missing:
            zh.append(f"缺少检查项 {', '.join(missing)} 的分值")
            en.append(f"gives no points for {', '.join(missing)}")
        if unknown:
            zh.append(f"含有不存在的检查项 {', '.join(unknown)}")
            en.append(f"names check ids that do not exist: {', '.join(unknown)}")
        raise ConfigError(text(f"评分表 {rubric.source} {'；'.join(zh)}。它必须恰好列出这些检查项：{valid}",
                               f"the rubric {rubric.source} {'; '.join(en)}. It must list exactly these check "
                               f"ids: {valid}"))
    empty = [g for g in globs or [] if not any(matches(cid, [g]) for cid in ids)]
    if empty:
        names = ", ".join(repr(g) for g in empty)
        raise ConfigError(text(f"--checks 中的 {names} 不匹配任何检查项。可选的检查项（可用 * 通配）：{valid}",
                               f"--checks {names} selects no check id. The check ids (globs such as "
                               f"'jaccard*' work): {valid}"))
    return [cid for cid in ids if matches(cid, globs)]
