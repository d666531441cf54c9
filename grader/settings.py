"""The settings of one grading run, shared by every submission in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .checks.base import PUBLIC_SEED
from .intake import Caps
from .rubric import Rubric

__all__ = ["PUBLIC_SEED", "RunSettings"]



@dataclass
class RunSettings:
    out_dir: Path
    work_root: Path
    rubric: Rubric
    seed: int
    profile: str = "cpu"
    device: str = "cpu"
    checks: list[str] | None = None
    caps: Caps = field(default_factory=Caps)
    public_only: bool = False
    threads: int = 1
