"""The rubric: points per check id, from the package's rubric.toml or a course's own file."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from .late import LateError, Policy, parse_policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")


class RubricError(ValueError):
    """A rubric file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Rubric:
    table: dict[str, float]
    source: str
    late: Policy | None = None  # the [late] table: the penalty `grade --deadline` applies

    def __post_init__(self) -> None:
        if isinstance(self.late, dict):  # as `asdict` sends the settings to a Dask worker
            object.__setattr__(self, "late", Policy(**self.late))

    def points(self, check_id: str) -> float:
        try:
            return self.table[check_id]
        except KeyError:
            raise RubricError(f"the rubric {self.source} gives no points for check {check_id!r}") from None

    @property
    def total(self) -> float:
        return round(sum(self.table.values()), 4)


def _is_points(value: object) -> bool:
    """A number of points: finite and >= 0 (TOML's booleans are ints to Python, and are not points)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def load(path: Path | None = None) -> Rubric:
    """The rubric at `path` (default: the package's), or RubricError; whether its ids fit the checks is
    `checks.registry.validate`'s to say."""
    path = path or DEFAULT_RUBRIC
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"无法读取评分表 {path}：{exc}\ncannot read rubric {path}: {exc}") from exc
    table = data.get("points")
    if not isinstance(table, dict) or not table:
        raise RubricError(f"评分表 {path} 没有 [points] 表\nrubric {path} has no [points] table")
    bad = [f"{k} = {v!r}" for k, v in table.items() if not _is_points(v)]
    if bad:
        raise RubricError(f"评分表 {path} 的分值必须是不小于 0 的数字：{', '.join(bad)}\n"
                          f"rubric {path}: points must be numbers >= 0, not {', '.join(bad)}")
    try:
        late = parse_policy(data["late"], f"rubric {path}") if "late" in data else None
    except LateError as exc:
        raise RubricError(str(exc)) from None
    return Rubric({k: float(v) for k, v in table.items()}, str(path), late)
