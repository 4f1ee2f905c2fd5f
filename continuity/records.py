"""What a drill run leaves in the journal: the run's record and each step's result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass
class StepResult:
    phase: str
    index: int
    name: str
    type: str
    started_at: str
    ended_at: str
    duration_seconds: float
    ok: bool
    detail: str = ""
    exit_code: int | None = None
    output_excerpt: str = ""
    output_sha256: str = ""
    evidence: str = ""
    evidence_sha256: str = ""
    recovery_point: str | None = None
    attempts: int = 1


@dataclass
class RunRecord:
    run_id: str
    drill: str
    service: str
    kind: str
    exercise: str
    definition_version: str
    definition_sha256: str
    trigger: str
    scheduled_for: str | None
    started_at: str
    ended_at: str | None
    host: str
    operator: str | None
    verdict: str
    reason: str = ""
    disruption_start: str | None = None
    restored_at: str | None = None
    rto_target_seconds: float | None = None
    rto_achieved_seconds: float | None = None
    rpo_target_seconds: float | None = None
    rpo_achieved_seconds: float | None = None
    recovery_point: str | None = None
    rollback_ok: bool | None = None
    steps: list[StepResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
