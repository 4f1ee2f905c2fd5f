"""The configuration file's sections, as strict models: what each key may hold.

Probe settings models live next to their probes and zone models in domain.zones; the sections
here compose them."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from config.delivery import DeliverySettings
from domain.findings import CATALOGUE, Policy
from domain.schedule import check_country
from domain.zones import Hours, ZoneDefaults, check_hours
from kernel.model import Duration, Interval, PlainText, Strict
from kernel.units import parse_size
from probes.engine import DEFAULT_MAX_IN_FLIGHT
from probes.usage.radius import RadiusSettings

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"


class Defaults(Strict):
    interval: Interval = 60.0
    timeout: Duration = 10.0
    packets: int = Field(default=3, ge=1, le=100)
    failures_before_down: int = Field(default=3, ge=1, le=100)
    successes_before_up: int = Field(default=1, ge=1, le=100)


class ProbingSettings(Strict):
    """How the probe engine spends sockets and spreads work (probes.engine)."""

    max_in_flight: int = Field(
        default=DEFAULT_MAX_IN_FLIGHT,
        ge=1,
        le=1_000_000,
        description="sockets held by checks at once; every check must fit, so hanging peers never queue others",
    )
    spread: Duration | None = Field(
        default=None,
        description="window over which one interval's check starts are spread (default: a tenth of the "
        "interval, at most 10s; never past interval - timeout)",
    )


class StoreSettings(Strict):
    url: str | None = Field(default=None, description="SQLAlchemy URL without password")
    url_file: str | None = Field(default=None, description="file holding the URL (may carry a password)")
    url_env: str | None = Field(default=None, description="environment variable holding the URL")
    raw_retention: Duration = 35 * 86400.0
    rollup_retention: Duration | None = None

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, value: str | None) -> str | None:
        if value and re.search(r"://[^/@]*:[^/@]*@", value):
            raise ValueError("the URL carries a password: put it in url_file or url_env instead")
        return value


class ClusterSettings(Strict):
    """Several vigia processes on one PostgreSQL database (store.lease): the leader lease."""

    lease_ttl: Duration = Field(
        default=15.0, ge=3.0, le=300.0, description="how long the leader lease lasts unrenewed (renewed every third)"
    )
    advisory_locks: bool = Field(
        default=True,
        description="hand the lease over the moment the leader's database session ends; false behind PgBouncer "
        "in transaction mode, where session locks do not hold",
    )


class ContinuitySettings(Strict):
    plan: str = Field(min_length=1, description="the continuity plan file; relative to this file's folder")
    paused: bool = Field(default=False, description="no scheduled drill runs while true")


class FindingOverride(Strict):
    """The office's own reading of one kind of finding; unset fields keep vigia's default."""

    severity: Literal["alta", "media", "baja"] | None = None
    control: str | None = Field(default=None, pattern=r"^A\.[5-8]\.\d{1,2}$", description="ISO/IEC 27001:2022 Annex A")
    mspi: str | None = Field(default=None, min_length=1, description="MSPI domain")
    title: dict[Literal["es", "en"], str] = Field(default_factory=dict)
    strategy: dict[Literal["es", "en"], str] = Field(default_factory=dict)


class SecuritySettings(Strict):
    expiry_days: list[float] = Field(
        default_factory=lambda: [30.0, 15.0, 7.0],
        description="certificate expiry thresholds for baja, media, alta (days)",
    )
    no_data_after: int = Field(default=3, ge=1, le=1000, description="intervals without a result -> finding")
    min_rsa_bits: int = Field(default=2048, ge=512)
    min_ec_bits: int = Field(default=256, ge=160)
    findings: dict[str, FindingOverride] = Field(default_factory=dict)

    @field_validator("expiry_days")
    @classmethod
    def _descending(cls, value: list[float]) -> list[float]:
        if len(value) != 3 or not value[0] > value[1] > value[2] >= 0:
            raise ValueError("expiry_days must be three decreasing day counts: baja, media, alta (e.g. [30, 15, 7])")
        return value

    @field_validator("findings", mode="before")
    @classmethod
    def _known_kinds(cls, value: Any) -> Any:
        unknown = sorted(set(value) - set(CATALOGUE)) if isinstance(value, dict) else []
        if unknown:
            raise ValueError(f"unknown finding kind {unknown[0]!r} (known: {', '.join(sorted(CATALOGUE))})")
        return value

    def policy(self) -> Policy:
        types = dict(CATALOGUE)
        for kind, o in self.findings.items():
            base = types[kind]
            types[kind] = replace(
                base,
                severity=o.severity or base.severity,
                control=o.control or base.control,
                mspi=o.mspi or base.mspi,
                title={**base.title, **{str(k): v for k, v in o.title.items()}},
                strategy={**base.strategy, **{str(k): v for k, v in o.strategy.items()}},
            )
        low, mid, high = self.expiry_days
        return Policy(types, (low, mid, high), self.min_rsa_bits, self.min_ec_bits)


def _bytes(value: Any) -> Any:
    return parse_size(value, "B") if isinstance(value, str) else value


def _bits(value: Any) -> Any:
    return parse_size(value, "bit") if isinstance(value, str) else value


class DatacenterHost(Strict):
    """Capacity from the inventory, where node data does not tell it (or tells it wrong)."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)
    vcpus: int | None = Field(default=None, ge=1)
    memory: Annotated[float | None, BeforeValidator(_bytes)] = Field(default=None, description="e.g. 64GiB")
    disk: Annotated[float | None, BeforeValidator(_bytes)] = Field(default=None, description="e.g. 2TiB")
    link: Annotated[float | None, BeforeValidator(_bits)] = Field(
        default=None, description="network link capacity, e.g. 1Gbit"
    )
    role: str = ""


class DatacenterRules(Strict):
    underused_cpu_p95: float = Field(default=0.10, ge=0, le=1)
    underused_memory_p95: float = Field(default=0.30, ge=0, le=1)
    saturated_p95: float = Field(default=0.80, ge=0, le=1)
    filesystem_warning_days: float = Field(default=90.0, gt=0)
    availability_target: float = Field(default=0.995, ge=0, le=1)


class DatacenterSettings(Strict):
    hosts: dict[str, DatacenterHost] = Field(default_factory=dict, description="target id -> inventory")
    rules: DatacenterRules = Field(default_factory=DatacenterRules)


class ReportSettings(Strict):
    """Header and destination of the reports (the office's document control)."""

    directory: str | None = Field(default=None, description="where reports are written; STATE_DIR/reports if unset")
    entity: str = "Alcaldía Distrital de Cartagena de Indias"
    office: str = "Oficina Asesora de Informática"
    macroprocess: str = "Gestión de TIC"
    process: str = "Gestión de infraestructura tecnológica"
    code: str = "GTIC-F-001"
    version: str = "1"
    contact: str = ""
    incident_classes: dict[str, Literal["planned", "unplanned", "power", "isp", "monitoring fault"]] = Field(
        default_factory=dict, description="outage reason code -> class in the report (default: unplanned)"
    )
    languages: list[Literal["es", "en"]] = Field(default_factory=lambda: ["es"])  # type: ignore[arg-type]
    formats: list[Literal["html", "pdf", "csv"]] = Field(default_factory=lambda: ["html", "pdf", "csv"])  # type: ignore[arg-type]
    delivery: DeliverySettings | None = None


class ActionPlanLine(Strict):
    activity: str = Field(min_length=1)
    product: str = Field(min_length=1)
    target: float = Field(ge=0)
    responsible: str = ""
    evidence: Literal[
        "zones", "monthly_reports", "continuity_tests", "datacenter_report", "security_report", "open_data"
    ]


def _listen_port(value: str) -> str:
    host, port = value.rsplit(":", 1)
    if not 0 <= int(port) <= 65535:  # 0: any free port, as tests and ad-hoc runs use
        raise ValueError(f"port {port} is not a TCP port (1-65535, or 0 for any free one)")
    # An address written as numbers must be one (999.1.1.1 passed the pattern and failed at bind);
    # a name is resolved when the listener binds.
    literal = host.strip("[]")
    if host.startswith("[") or (literal and all(c.isdigit() or c == "." for c in literal)):
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            raise ValueError(f"{literal} is not an IP address") from None
    return value


class WebSettings(Strict):
    listen: Annotated[str, AfterValidator(_listen_port)] = Field(
        default="127.0.0.1:9842", pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$"
    )
    config_file: str | None = Field(
        default=None, description="TLS and basic auth in exporter-toolkit's format (as --web.config.file)"
    )
    max_connections: int = Field(
        default=1024,
        ge=1,
        le=10_000,
        description="connections open at once; at the cap a new one pushes out the one waiting longest for a request",
    )
    max_connections_per_client: int = Field(
        default=64, ge=1, le=10_000, description="connections open at once from one address (the same rule)"
    )


class StatusPageSettings(Strict):
    """The public status page of the zones, on a listener of its own (monitor.web.statuspage)."""

    listen: Annotated[str, AfterValidator(_listen_port)] = Field(
        pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$",
        description="address:port of the public listener; never the one /metrics is on",
    )
    title: PlainText = Field(default="Zonas Digitales de Cartagena: estado del servicio", min_length=1, max_length=120)
    lang: Literal["es", "en"] = Field(default="es", description="the page's language unless the visitor asks")
    directory: str | None = Field(
        default=None, description="also written here after each cycle (atomically), for nginx to serve"
    )
    max_age: Duration = Field(default=30.0, description="Cache-Control max-age of every answer")
    max_connections: int = Field(default=1024, ge=1, le=10_000, description="as web.max_connections")
    max_connections_per_client: int = Field(
        default=64, ge=1, le=10_000, description="as web.max_connections_per_client (nginx in front: its address)"
    )


def _timestamp(value: object) -> object:
    """YAML gives a datetime for a bare timestamp and a string for a quoted one: take both."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time such as 2025-03-01 22:00:00") from None
    return value


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


def _day(value: object) -> object:
    """A calendar day: YAML's bare 2025-11-11 (a date) or a quoted one."""
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a date and time; give the day alone, such as 2025-11-11")
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date such as 2025-11-11") from None
    return value


Day = Annotated[date, BeforeValidator(_day)]


class ExtraHoliday(Strict):
    date: Day
    name: PlainText = Field(min_length=1)


class ClosedDaySettings(Strict):
    date: Day
    reason: PlainText = ""
    zones: list[str] = Field(default_factory=list, description="only these zones (none named: every map schedule)")
    targets: list[str] = Field(default_factory=list)


class CalendarSettings(Strict):
    """The calendar that schedules in map form follow (zones[].hours, targets[].hours, groups)."""

    country: str = Field(default="CO", description="ISO 3166 code for the holidays package; empty: no country")
    extra_holidays: list[ExtraHoliday] = Field(default_factory=list, description="local civic days, with a name")
    closed_days: list[ClosedDaySettings] = Field(default_factory=list, description="one-off closures, with why")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value:
            check_country(value)
        return value


class GroupSettings(Strict):
    hours: Hours | None = Field(default=None, description="operating hours of the group's targets (their SLA)")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: Hours | None) -> Hours | None:
        return check_hours(value)


class MaintenanceWindow(Strict):
    id: str = Field(pattern=_ID)
    targets: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    cron: str | None = Field(default=None, description="crontab start times, in the configured timezone")
    duration: Duration | None = None
    start: Timestamp | None = None
    end: Timestamp | None = None
    reason: PlainText = ""


class TargetSettings(BaseModel):
    """The keys every target has; the probe's own section is checked by its settings model."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    id: str = Field(pattern=_ID)
    probe: str
    group: str = Field(default="datacenter", pattern=r"^[a-z][a-z0-9_]*$")
    description: PlainText = ""
    labels: dict[str, PlainText] = Field(default_factory=dict)
    interval: Interval | None = None
    timeout: Duration | None = None
    failures_before_down: int | None = Field(default=None, ge=1, le=100)
    successes_before_up: int | None = Field(default=None, ge=1, le=100)
    hours: Hours | None = Field(default=None, description="operating hours (a service's SLA): as zones[].hours")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: Hours | None) -> Hours | None:
        return check_hours(value)


class FileSettings(Strict):
    timezone: str = "America/Bogota"
    instance: str = Field(default="vigia", pattern=_ID)
    ha_group: str | None = Field(
        default=None, pattern=_ID, description="instances with the same ha_group probe the same targets"
    )
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    state_dir: str | None = None
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    defaults: Defaults = Field(default_factory=Defaults)
    probing: ProbingSettings = Field(default_factory=ProbingSettings)
    zone_defaults: ZoneDefaults = Field(default_factory=ZoneDefaults)
    store: StoreSettings = Field(default_factory=StoreSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    status_page: StatusPageSettings | None = None
    radius: RadiusSettings | None = None
    continuity: ContinuitySettings | None = None
    reports: ReportSettings = Field(default_factory=ReportSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    datacenter: DatacenterSettings = Field(default_factory=DatacenterSettings)
    action_plan: list[ActionPlanLine] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    groups: dict[str, GroupSettings] = Field(default_factory=dict, description="settings shared by a target group")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as America/Bogota)") from None
        return value
