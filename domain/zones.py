"""The Zonas Digitales as configured: inventory, operating hours, thresholds, and the checks a
zone's settings ask for (gateway, portal, DNS, SNMP). How the checks' results fold into a zone
state is in domain.zone_state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from domain.schedule import Schedule, WeekPlan
from kernel.model import Duration, Interval, PlainText, Regex, Strict
from kernel.units import parse_size

CHECKS = ("gateway", "portal", "dns")
# Operating hours as configured: one daily range ("06:00-22:00", every day, holidays included) or a
# map of days to ranges that follows the calendar (domain.schedule.WeekPlan.parse reads both).
Hours = str | dict[str, str]


def check_hours(value: Hours | None) -> Hours | None:
    """The value, or ValueError saying what is wrong with it (pydantic locates it)."""
    if value is not None:
        WeekPlan.parse(value)
    return value


def parse_bandwidth(value: str) -> float:
    """'100Mbps' -> bits per second."""
    return parse_size(value, "bps")


class ZoneThresholds(Strict):
    down_loss_ratio: float = Field(default=0.5, ge=0.0, lt=1.0, description="gateway loss above this fails the zone")
    degraded_loss_ratio: float = Field(default=0.05, ge=0.0, lt=1.0)
    degraded_rtt: Duration = 0.15
    degraded_throughput_bps: float | None = Field(
        default=None, gt=0.0, description="an agent's download test below this degrades the zone (bits per second)"
    )


class ZoneDns(Strict):
    server: str | None = Field(default=None, description="the zone's resolver; the zone's gateway if unset")
    name: str = Field(min_length=1)
    type: str = "A"
    expect_answers: list[str] = Field(default_factory=list)


class ZoneRadius(Strict):
    """How accounting rows are attributed to this zone."""

    nas_ip_addresses: list[str] = Field(default_factory=list)
    called_station_id: Regex | None = Field(default=None, description="regex on Called-Station-Id (AP MAC:SSID)")


class ZoneAgent(Strict):
    """What the zone's agent checks from inside the zone, as a citizen meets it (domain.agents'
    checks): fetched by the agent from the centre, so one file says what every agent does."""

    interval: Interval = 60.0
    timeout: Duration = 10.0
    gateway: str | None = Field(default=None, description="the zone's gateway as the LAN sees it (ICMP)")
    dns: ZoneDns | None = Field(default=None, description="the hotspot's resolver, with the expected answer")
    portal_url: str | None = None
    portal_text: Regex | None = Field(default=None, description="text the captive portal must show")
    anchors: list[str] = Field(default_factory=list, max_length=8, description="internet hosts (ICMP) or URLs")
    throughput_url: str | None = Field(default=None, description="a download test: a few MB, e.g. the centre's")
    throughput_bytes: int = Field(default=5_000_000, ge=100_000, le=64_000_000)
    throughput_every: Interval = 1800.0
    access_points: dict[str, object] | None = Field(default=None, description="SNMP settings of the APs' counters")


class ZoneSettings(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
    name: PlainText = Field(min_length=1)
    barrio: PlainText = ""
    ucg: int | None = Field(default=None, ge=1, le=99)
    localidad: PlainText = ""
    area: Literal["urbana", "rural"] = "urbana"
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    hours: Hours | None = None
    sla_target: float | None = Field(default=None, gt=0.0, le=1.0, description="availability target, ratio 0-1")
    bandwidth: str | None = None
    aliases: list[PlainText] = Field(default_factory=list)
    gateway: str | None = None
    portal_url: str | None = None
    dns: ZoneDns | None = None
    snmp: dict[str, object] | None = None
    radius: ZoneRadius | None = None
    thresholds: ZoneThresholds | None = None
    agent: ZoneAgent | None = None
    uplink: str | None = Field(
        default=None,
        description="target id of the data-centre link this zone's traffic passes through: while that target is "
        "down, its alert stands for this zone's (Alertmanager inhibits the zone alerts behind it)",
    )

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: Hours | None) -> Hours | None:
        return check_hours(value)

    @field_validator("bandwidth")
    @classmethod
    def _bandwidth(cls, value: str | None) -> str | None:
        if value is not None:
            parse_bandwidth(value)
        return value


class ZoneDefaults(Strict):
    hours: Hours = "00:00-24:00"
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
    def _hours(cls, value: Hours | None) -> Hours | None:
        return check_hours(value)


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
    hours: Schedule
    hours_text: str  # as configured, or the map form in words
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
    uplink: str = ""  # a target id, or "" (see ZoneSettings.uplink)
    agent: ZoneAgent | None = None  # what the zone's agent checks from inside (domain.agents.checks_of)

    def in_hours(self, at: datetime, tz: ZoneInfo) -> bool:
        return self.hours.is_open(at, tz)

    @property
    def plan(self) -> WeekPlan:
        return self.hours.plan


@dataclass(frozen=True)
class CheckSpec:
    """One check a zone asks for: the probe kind that runs it, that probe's settings (validated by
    the probe's own model, from the registry) and the key of the zone's entry they come from."""

    check: str
    probe: str
    settings: Mapping[str, object]
    key: str


def zone_checks(
    z: ZoneSettings, defaults: ZoneDefaults, thresholds: ZoneThresholds
) -> tuple[list[CheckSpec], list[tuple[str, str]]]:
    """The checks a zone's settings ask for (gateway, portal, dns, snmp), and (key, problem) for
    what cannot be a check."""
    specs: list[CheckSpec] = []
    problems: list[tuple[str, str]] = []
    if z.gateway:
        icmp = {"address": z.gateway, "packets": defaults.packets, "max_loss_ratio": thresholds.down_loss_ratio}
        specs.append(CheckSpec("gateway", "icmp", icmp, "gateway"))
    if z.portal_url:
        specs.append(CheckSpec("portal", "http", {"url": z.portal_url}, "portal_url"))
    if z.dns:
        server = z.dns.server or z.gateway
        if not server:
            problems.append(("dns", "dns needs 'server' when the zone has no gateway"))
        else:
            dns = {"server": server, "name": z.dns.name, "type": z.dns.type, "expect_answers": z.dns.expect_answers}
            specs.append(CheckSpec("dns", "dns", dns, "dns"))
    if z.snmp is not None:
        specs.append(CheckSpec("snmp", "snmp", dict(z.snmp), "snmp"))
    return specs, problems
