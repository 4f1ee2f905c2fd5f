"""Where each drill and service stands, from the journal: for /metrics and `vigia drill list`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from continuity.plan import Plan
from domain.drills import NOT_RUN, Verdict


def _ts(value: str | None) -> float | None:
    return None if not value else datetime.fromisoformat(value).timestamp()


@dataclass
class DrillStatus:
    drill: str
    service: str
    last_run: float | None = None
    last_verdict: str = ""
    last_success: float | None = None
    rto_achieved: float | None = None
    rto_target: float | None = None
    rpo_achieved: float | None = None
    rpo_target: float | None = None
    results: Counter[str] = field(default_factory=Counter)


@dataclass
class ServiceStatus:
    service: str
    test_interval: float
    last_passed: float | None
    overdue: bool


def drill_status(plan: Plan, runs: list[dict[str, Any]]) -> dict[str, DrillStatus]:
    out = {d.id: DrillStatus(d.id, d.service) for d in plan.drills.values()}
    for run in runs:
        st = out.get(run.get("drill", ""))
        if st is None:
            continue
        st.results[run["verdict"]] += 1
        started = _ts(run.get("started_at"))
        if started is None or run["verdict"] in NOT_RUN:
            continue
        st.last_run, st.last_verdict = started, run["verdict"]
        st.rto_achieved, st.rto_target = run.get("rto_achieved_seconds"), run.get("rto_target_seconds")
        st.rpo_achieved, st.rpo_target = run.get("rpo_achieved_seconds"), run.get("rpo_target_seconds")
        if run["verdict"] == Verdict.PASSED:
            st.last_success = started
    return out


def service_status(plan: Plan, drills: dict[str, DrillStatus], now: float) -> dict[str, ServiceStatus]:
    """A service is overdue when none of its drills passed within its test interval."""
    out = {}
    for svc in plan.services.values():
        passed = [d.last_success for d in drills.values() if d.service == svc.id and d.last_success]
        last = max(passed) if passed else None
        out[svc.id] = ServiceStatus(svc.id, svc.test_interval, last, last is None or now - last > svc.test_interval)
    return out
