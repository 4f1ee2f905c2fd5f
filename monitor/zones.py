"""The Zonas Digitales: inventory, availability as a citizen sees it, and operating hours.

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

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from domain.hysteresis import Streak
from domain.state import NO_DATA_REASONS
from kernel.model import Strict
from kernel.units import Duration, Interval, parse_size
from probes.result import ProbeResult
from probes.settings import Regex

_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
CHECKS = ("gateway", "portal", "dns")


def parse_hours(value: str) -> tuple[time, time] | None:
    """ "06:00-22:00" -> (06:00, 22:00); "00:00-24:00" -> None (always open)."""
    m = _HOURS.match(value)
    if not m:
        raise ValueError(f"hours must look like '06:00-22:00', not {value!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{value!r} is not a valid time range")
    if (h1, m1) == (0, 0) and (h2, m2) == (24, 0):
        return None
    if (h1, m1) == (h2 % 24, m2):
        raise ValueError(f"{value!r} is empty: use '00:00-24:00' for always open")
    return time(h1, m1), time(h2 % 24, m2)


def parse_bandwidth(value: str) -> float:
    """'100Mbps' -> bits per second."""
    return parse_size(value, "bps")


class ZoneThresholds(Strict):
    down_loss_ratio: float = Field(default=0.5, ge=0.0, lt=1.0, description="gateway loss above this fails the zone")
    degraded_loss_ratio: float = Field(default=0.05, ge=0.0, lt=1.0)
    degraded_rtt: Duration = 0.15


class ZoneDns(Strict):
    server: str | None = Field(default=None, description="the zone's resolver; the zone's gateway if unset")
    name: str = Field(min_length=1)
    type: str = "A"
    expect_answers: list[str] = Field(default_factory=list)


class ZoneRadius(Strict):
    """How accounting rows are attributed to this zone."""

    nas_ip_addresses: list[str] = Field(default_factory=list)
    called_station_id: Regex | None = Field(default=None, description="regex on Called-Station-Id (AP MAC:SSID)")


class ZoneSettings(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
    name: str = Field(min_length=1)
    barrio: str = ""
    ucg: int | None = Field(default=None, ge=1, le=99)
    localidad: str = ""
    area: Literal["urbana", "rural"] = "urbana"
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    hours: str | None = None
    sla_target: float | None = Field(default=None, gt=0.0, le=1.0, description="availability target, ratio 0-1")
    bandwidth: str | None = None
    aliases: list[str] = Field(default_factory=list)
    gateway: str | None = None
    portal_url: str | None = None
    dns: ZoneDns | None = None
    snmp: dict[str, object] | None = None
    radius: ZoneRadius | None = None
    thresholds: ZoneThresholds | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)
        return value

    @field_validator("bandwidth")
    @classmethod
    def _bandwidth(cls, value: str | None) -> str | None:
        if value is not None:
            parse_bandwidth(value)
        return value


class ZoneDefaults(Strict):
    hours: str = "00:00-24:00"
    sla_target: float | None = Field(default=None, gt=0.0, le=1.0)
    thresholds: ZoneThresholds = Field(default_factory=ZoneThresholds)
    interval: Interval | None = None
    timeout: Duration | None = None
    packets: int | None = Field(default=None, ge=1, le=100, description="gateway echo requests per cycle")
    failures_before_down: int | None = Field(default=None, ge=1, le=100)
    successes_before_up: int | None = Field(default=None, ge=1, le=100)
    watchdog: list[str] = Field(
        default_factory=list,
        description="target ids of vigia's own uplink: while any is down, zone failures are no_data",
    )

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value


@dataclass(frozen=True)
class Zone:
    """A zone with defaults applied; ``checks`` maps check name -> target id."""

    id: str
    name: str
    barrio: str
    ucg: int | None
    localidad: str
    area: str
    lat: float
    lon: float
    hours: tuple[time, time] | None
    hours_text: str
    sla_target: float | None
    bandwidth_bps: float | None
    aliases: tuple[str, ...]
    thresholds: ZoneThresholds
    checks: dict[str, str]
    usage: dict[str, str]
    radius: ZoneRadius | None
    failures_before_down: int
    successes_before_up: int
    interval: float

    def in_hours(self, at: datetime, tz: ZoneInfo) -> bool:
        if self.hours is None:
            return True
        local = at.astimezone(tz).time()
        start, end = self.hours
        if start < end:
            return start <= local < end
        return local >= start or local < end  # overnight, e.g. 18:00-02:00


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
            streak.reset()
            self.status = ZoneStatus.UNKNOWN  # the window ended: judge afresh from here
        if obs.verdict == NO_DATA:
            return self._move(ZoneStatus.NO_DATA, at, obs.reason, obs.message, in_hours)
        if obs.verdict == FAILED:
            streak.fail(at)
            if streak.failures >= self.failures_before_down or self.status == ZoneStatus.DOWN:
                if self.status == ZoneStatus.DOWN:
                    return None
                return self._move(ZoneStatus.DOWN, streak.first_failure_at or at, obs.reason, obs.message, in_hours)
            if self.status == ZoneStatus.NO_DATA:
                # Back from no data into a failing streak: unknown until the streak decides.
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


STATUS_VALUES = {s: i for i, s in enumerate(ZoneStatus)}


def day_bounds(day: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day containing ``day``."""
    local = day.astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    return start, start + timedelta(days=1)
