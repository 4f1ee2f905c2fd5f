"""What a drill run leaves in the journal: the run's record and each step's result."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from continuity.plan import Drill, Plan


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

    @classmethod
    def new(
        cls, plan: Plan, drill: Drill, trigger: str, operator: str | None, scheduled_for: float | None
    ) -> RunRecord:
        """A run of ``drill`` starting now on this host, with its service's targets."""
        service = plan.services[drill.service]
        return cls(
            run_id=uuid.uuid4().hex,
            drill=drill.id,
            service=drill.service,
            kind=drill.kind,
            exercise=drill.exercise,
            definition_version=plan.version,
            definition_sha256=plan.sha256,
            trigger=trigger,
            scheduled_for=iso(scheduled_for),
            started_at=iso(time.time()) or "",
            ended_at=None,
            host=socket.gethostname(),
            operator=operator,
            verdict="",
            rto_target_seconds=service.rto if drill.is_disruptive else None,
            rpo_target_seconds=service.rpo,
        )

    def measure(self, started: float, disrupted: float | None, restored: float | None) -> str | None:
        """RTO achieved (disruption to restoration) and RPO achieved (start to recovery point);
        the first beyond its target, as a reason, or None."""
        if disrupted is not None and restored is not None:
            self.rto_achieved_seconds = round(restored - disrupted, 3)
        if self.recovery_point is not None:
            self.rpo_achieved_seconds = round(started - datetime.fromisoformat(self.recovery_point).timestamp(), 3)
        for name, achieved, target in (
            ("RTO", self.rto_achieved_seconds, self.rto_target_seconds),
            ("RPO", self.rpo_achieved_seconds, self.rpo_target_seconds),
        ):
            if achieved is not None and target is not None and achieved > target:
                return f"{name} achieved {achieved:g}s exceeds the target {target:g}s"
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
