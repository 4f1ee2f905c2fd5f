"""A zone's state: availability as a citizen sees it, from its checks' results.

A zone is available when someone standing in it can get online: its gateway
answers (loss under a threshold), its captive portal serves, and optionally
its DNS resolver answers. Each of those is an ordinary target (``ZD-01:gateway``,
``ZD-01:portal``, ``ZD-01:dns``) probed in the same cycle; this module folds
their results into one zone state:

- ``up``         every check passes;
- ``degraded``   they pass, but gateway loss or latency is over its threshold;
- ``down``       a check fails (after ``failures_before_down`` cycles, as for targets);
- ``maintenance`` a maintenance window covers the zone;
- ``no_data``    vigia itself could not measure (its own privilege, its own uplink
                 watchdog failing): never counted as the zone's downtime.

Operating hours do not change the state: outside them downtime is recorded
all the same, and reports leave it out of the SLA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from domain.hysteresis import Streak
from domain.state import NO_DATA_REASONS
from probes.result import ProbeResult

if TYPE_CHECKING:  # annotations only: a zone agent's command line need not load the zones' models
    from domain.zones import Zone


class ZoneStatus(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    NO_DATA = "no_data"


# What a cycle's checks say, before hysteresis.
OK, DEGRADED, FAILED, NO_DATA = "ok", "degraded", "failed", "no_data"


@dataclass(frozen=True)
class Observation:
    verdict: str
    reason: str
    message: str
    loss: float | None
    rtt: float | None
    checks: dict[str, bool]


def observe(zone: Zone, results: dict[str, ProbeResult], watchdog_ok: bool) -> Observation:
    """Fold one cycle's check results of a zone into a verdict."""
    checks = {name: results[tid].success for name, tid in zone.checks.items() if tid in results}
    gw = results.get(zone.checks.get("gateway", ""))
    loss = gw.values.get("loss_ratio") if gw else None
    rtt = gw.values.get("rtt_avg_seconds") if gw else None
    mine = [results[tid] for tid in zone.checks.values() if tid in results]
    if not mine:
        return Observation(NO_DATA, "no_result", "no check of this zone produced a result", loss, rtt, checks)
    own_trouble = [r for r in mine if not r.success and r.reason in NO_DATA_REASONS]
    failed = [r for r in mine if not r.success and r.reason not in NO_DATA_REASONS]
    if own_trouble or (failed and not watchdog_ok):
        why = own_trouble[0] if own_trouble else failed[0]
        msg = why.message if own_trouble else "vigia's own uplink watchdog is failing"
        return Observation(NO_DATA, why.reason if own_trouble else "watchdog", msg, loss, rtt, checks)
    if failed:
        first = failed[0]
        check = next(n for n, t in zone.checks.items() if t == first.target)
        return Observation(FAILED, f"{check}_{first.reason}", first.message, loss, rtt, checks)
    t = zone.thresholds
    if (loss is not None and loss > t.degraded_loss_ratio) or (rtt is not None and rtt > t.degraded_rtt):
        parts = []
        if loss is not None and loss > t.degraded_loss_ratio:
            parts.append(f"loss {loss:.0%} > {t.degraded_loss_ratio:.0%}")
        if rtt is not None and rtt > t.degraded_rtt:
            parts.append(f"RTT {rtt * 1000:.0f} ms > {t.degraded_rtt * 1000:.0f} ms")
        return Observation(DEGRADED, "degraded", ", ".join(parts), loss, rtt, checks)
    return Observation(OK, "", "", loss, rtt, checks)


@dataclass(frozen=True)
class ZoneTransition:
    zone: str
    at: datetime
    old: ZoneStatus
    new: ZoneStatus
    reason: str
    message: str
    in_hours: bool


@dataclass
class ZoneState:
    zone: str
    failures_before_down: int
    successes_before_up: int
    status: ZoneStatus = ZoneStatus.UNKNOWN
    since: datetime | None = None
    streak: Streak = field(default_factory=Streak)
    last: Observation | None = None
    last_at: datetime | None = None
    transitions: int = 0
    in_hours: bool = True
    counts: dict[str, int] = field(default_factory=lambda: {OK: 0, DEGRADED: 0, FAILED: 0, NO_DATA: 0})

    def update(self, at: datetime, obs: Observation, *, maintenance: bool, in_hours: bool) -> ZoneTransition | None:
        self.last, self.last_at, self.in_hours = obs, at, in_hours
        self.counts[obs.verdict] += 1
        streak = self.streak
        if maintenance:
            streak.reset()
            return self._move(ZoneStatus.MAINTENANCE, at, "maintenance", "", in_hours)
        if self.status == ZoneStatus.MAINTENANCE:
            # The window ended: judged afresh from here, and the transition out of maintenance (never
            # through an unrecorded "unknown") is what closes the window's period in the store.
            streak.reset()
        if obs.verdict == NO_DATA:
            return self._move(ZoneStatus.NO_DATA, at, obs.reason, obs.message, in_hours)
        if obs.verdict == FAILED:
            streak.fail(at)
            if streak.failures >= self.failures_before_down or self.status == ZoneStatus.DOWN:
                if self.status == ZoneStatus.DOWN:
                    return None
                return self._move(ZoneStatus.DOWN, streak.first_failure_at or at, obs.reason, obs.message, in_hours)
            if self.status in (ZoneStatus.NO_DATA, ZoneStatus.MAINTENANCE):
                # Back from no data or maintenance into a failing streak: unknown until the streak decides.
                return self._move(ZoneStatus.UNKNOWN, at, "", "", in_hours)
            return None
        streak.succeed(at)
        target = ZoneStatus.DEGRADED if obs.verdict == DEGRADED else ZoneStatus.UP
        if self.status == ZoneStatus.DOWN and streak.successes < self.successes_before_up:
            return None
        when = streak.first_success_at if self.status == ZoneStatus.DOWN else at
        return self._move(target, when or at, obs.reason, obs.message, in_hours)

    def _move(self, new: ZoneStatus, at: datetime, reason: str, message: str, in_hours: bool) -> ZoneTransition | None:
        if new == self.status:
            return None
        old, self.status, self.since = self.status, new, at
        self.transitions += 1
        return ZoneTransition(self.zone, at, old, new, reason, message, in_hours)
