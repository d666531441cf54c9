"""The result model: one `SubmissionResult` per submission, serialised as DESIGN.md's result.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .messages import Text

SCHEMA_VERSION = 1
CHECK_STATUSES = ("passed", "failed", "error", "timeout", "skipped")


@dataclass
class CheckResult:
    """The outcome of one check id (`GROUP` or `GROUP/NAME`)."""

    id: str
    status: str
    score: float
    max_score: float
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in CHECK_STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")

    @property
    def group(self) -> str:
        return self.id.split("/", 1)[0]

    @classmethod
    def make(cls, id: str, status: str, max_score: float, text: Text, score: float | None = None,
             **details: Any) -> CheckResult:
        """Build a result from bilingual text; a passed check scores full marks unless told otherwise."""
        if score is None:
            score = max_score if status == "passed" else 0.0
        return cls(id=id, status=status, score=float(score), max_score=float(max_score),
                   message=text.both(), details=details, messages=text.as_dict())


@dataclass
class SubmissionInfo:
    id: str
    source: str
    sha256: str | None = None


@dataclass
class Environment:
    grader_version: str
    device: str = "cpu"
    profile: str = "cpu"
    isolation: str = ""
    seed: int = 0


@dataclass
class SubmissionResult:
    """Everything graded about one submission; computes its own totals."""

    submission: SubmissionInfo
    environment: Environment
    status: str = "graded"
    error: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 4)

    def group_scores(self) -> dict[str, tuple[float, float]]:
        """(score, max) per check group, in the order the groups first appear."""
        totals: dict[str, tuple[float, float]] = {}
        for c in self.checks:
            s, m = totals.get(c.group, (0.0, 0.0))
            totals[c.group] = (round(s + c.score, 4), round(m + c.max_score, 4))
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "submission": asdict(self.submission),
            "status": self.status,
            "error": self.error,
            "score": self.score,
            "max_score": self.max_score,
            "checks": [asdict(c) for c in self.checks],
            "environment": asdict(self.environment),
            "timings": self.timings,
            "logs": self.logs,
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        return cls(
            submission=SubmissionInfo(**data["submission"]),
            environment=Environment(**data["environment"]),
            status=data["status"],
            error=data.get("error"),
            checks=[CheckResult(**c) for c in data.get("checks", [])],
            timings=data.get("timings", {}),
            logs=data.get("logs", {}),
            extra=data.get("extra", {}),
        )

    def write(self, path: Path) -> None:
        """Write atomically, so an interrupted batch never leaves half a result.json."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> SubmissionResult:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
