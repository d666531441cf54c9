"""The rubric: points per check id, from the package's rubric.toml or a course's own file."""

from __future__ import annotations

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


def load(path: Path | None = None) -> Rubric:
    path = path or DEFAULT_RUBRIC
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"cannot read rubric {path}: {exc}") from exc
    table = data.get("points")
    if not isinstance(table, dict) or not table:
        raise RubricError(f"rubric {path} has no [points] table")
    bad = [k for k, v in table.items() if not isinstance(v, (int, float)) or v < 0]
    if bad:
        raise RubricError(f"rubric {path}: points must be numbers >= 0 (check {', '.join(bad)})")
    try:
        late = parse_policy(data["late"], f"rubric {path}") if "late" in data else None
    except LateError as exc:
        raise RubricError(str(exc)) from None
    return Rubric({k: float(v) for k, v in table.items()}, str(path), late)
