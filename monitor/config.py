"""The configuration file: schema, strict validation, and the resolved view the daemon uses.

Every problem is collected (not just the first) and names file, line, column
and key path. Probe settings models live next to their probes; this module
composes them through the probe registry.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from domain.findings import CATALOGUE, Policy
from kernel.errors import ConfigError, ConfigProblem
from kernel.model import Strict
from kernel.units import Duration, Interval, format_duration, parse_size
from kernel.yamlsource import SECRET_WORDS, Document, Path, load, pydantic_problems, without_echoes
from monitor.zones import CHECKS, Zone, ZoneDefaults, ZoneSettings, ZoneThresholds, parse_bandwidth, parse_hours
from probes import REGISTRY
from probes.dns import DnsSettings
from probes.engine import DEFAULT_MAX_IN_FLIGHT, sockets_needed
from probes.http import HttpSettings
from probes.icmp import IcmpSettings
from probes.radius import RadiusSettings
from probes.settings import Settings

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"target", "probe", "group", "reason", "state", "stat", "instance", "job", "zone", "check"})


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


class ActionPlanLine(Strict):
    activity: str = Field(min_length=1)
    product: str = Field(min_length=1)
    target: float = Field(ge=0)
    responsible: str = ""
    evidence: Literal[
        "zones", "monthly_reports", "continuity_tests", "datacenter_report", "security_report", "open_data"
    ]


def _listen_port(value: str) -> str:
    port = int(value.rsplit(":", 1)[1])
    if not 0 <= port <= 65535:  # 0: any free port, as tests and ad-hoc runs use
        raise ValueError(f"port {port} is not a TCP port (1-65535, or 0 for any free one)")
    return value


class WebSettings(Strict):
    listen: Annotated[str, AfterValidator(_listen_port)] = Field(
        default="127.0.0.1:9842", pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$"
    )
    config_file: str | None = Field(
        default=None, description="TLS and basic auth in exporter-toolkit's format (as --web.config.file)"
    )
    max_connections: int = Field(
        default=256, ge=1, le=10_000, description="connections served at once; more are closed and counted"
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


class MaintenanceWindow(Strict):
    id: str = Field(pattern=_ID)
    targets: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    cron: str | None = Field(default=None, description="crontab start times, in the configured timezone")
    duration: Duration | None = None
    start: Timestamp | None = None
    end: Timestamp | None = None
    reason: str = ""


class TargetSettings(BaseModel):
    """The keys every target has; the probe's own section is checked by its settings model."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    id: str = Field(pattern=_ID)
    probe: str
    group: str = Field(default="datacenter", pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    interval: Interval | None = None
    timeout: Duration | None = None
    failures_before_down: int | None = Field(default=None, ge=1, le=100)
    successes_before_up: int | None = Field(default=None, ge=1, le=100)


class FileSettings(Strict):
    timezone: str = "America/Bogota"
    instance: str = Field(default="vigia", pattern=_ID)
    state_dir: str | None = None
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    defaults: Defaults = Field(default_factory=Defaults)
    probing: ProbingSettings = Field(default_factory=ProbingSettings)
    zone_defaults: ZoneDefaults = Field(default_factory=ZoneDefaults)
    store: StoreSettings = Field(default_factory=StoreSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    radius: RadiusSettings | None = None
    continuity: ContinuitySettings | None = None
    reports: ReportSettings = Field(default_factory=ReportSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    datacenter: DatacenterSettings = Field(default_factory=DatacenterSettings)
    action_plan: list[ActionPlanLine] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as America/Bogota)") from None
        return value


@dataclass(frozen=True)
class Target:
    """A target as the daemon sees it: defaults applied, settings validated."""

    id: str
    probe: str
    group: str
    labels: dict[str, str]
    description: str
    interval: float
    timeout: float
    failures_before_down: int
    successes_before_up: int
    packets: int
    settings: Settings


@dataclass(frozen=True)
class Maintenance:
    id: str
    targets: frozenset[str]
    reason: str
    trigger: CronTrigger | None
    duration: float
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Config:
    file: str
    timezone: zoneinfo.ZoneInfo
    instance: str
    state_dir: str
    log_level: str
    defaults: Defaults
    probing: ProbingSettings
    store: StoreSettings
    web: WebSettings
    targets: tuple[Target, ...]
    maintenance: tuple[Maintenance, ...] = ()
    zones: tuple[Zone, ...] = ()
    continuity_plan: str | None = None
    drills_paused: bool = False
    raw: FileSettings | None = field(default=None, compare=False)

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)


def _beside(file: str, name: str | None) -> str | None:
    """A path named in the configuration, relative to the configuration's own directory."""
    if not name:
        return None
    return os.path.join(os.path.dirname(os.path.abspath(file)), name)


def parse(file: str, text: str | None = None, *, state_dir: str | None = None) -> Config:
    """Read and validate a configuration file; raise ConfigError listing every problem."""
    doc = load(file, text)
    if doc.problems and doc.data is None:
        raise ConfigError(doc.problems)
    problems = list(doc.problems)
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "the file must be a mapping of settings"))
        raise ConfigError(problems)
    # Targets are validated one by one so that one bad target hides no other problem.
    data = dict(doc.data)
    items = data.pop("targets", [])
    windows = data.pop("maintenance", [])
    zone_items = data.pop("zones", [])
    raw = FileSettings()
    try:
        raw = FileSettings.model_validate(data)
    except ValidationError as exc:
        problems += pydantic_problems(doc, exc, ())
    entries: list[tuple[int, TargetSettings]] = []
    if not isinstance(items, list):
        problems.append(doc.problem(("targets",), "targets must be a list"))
        items = []
    for i, item in enumerate(items):
        try:
            entries.append((i, TargetSettings.model_validate(item)))
        except ValidationError as exc:
            problems += pydantic_problems(doc, exc, ("targets", i))
    targets = _targets(doc, raw, entries, problems)
    zones = _zones(doc, raw, zone_items, targets, problems)
    known = {t.id for t in targets}
    for host in raw.datacenter.hosts:
        if host not in known:
            problems.append(doc.problem(("datacenter", "hosts", host), f"no target {host!r} is configured", key=True))
    try:
        raw = raw.model_copy(update={"maintenance": FileSettings.model_validate({"maintenance": windows}).maintenance})
        maintenance = _maintenance(doc, raw, targets, zones, problems)
    except ValidationError as exc:
        problems += pydantic_problems(doc, exc, ())
        maintenance = []
    sockets = sockets_needed([(t.probe, t.settings) for t in targets])
    if sockets > raw.probing.max_in_flight:
        where = ("probing", "max_in_flight") if "probing" in data else ("targets",)
        problems.append(
            doc.problem(
                where,
                f"the {len(targets)} checks may hold {sockets} sockets at once (every peer hanging), more than "
                f"probing.max_in_flight ({raw.probing.max_in_flight}): raise it, or some checks would wait "
                "behind hung peers",
            )
        )
    problems += _paths(doc, raw, state_dir)
    if problems:
        raise ConfigError(_sorted(without_echoes(doc, problems)))
    return Config(
        file=file,
        timezone=zoneinfo.ZoneInfo(raw.timezone),
        instance=raw.instance,
        state_dir=state_dir or raw.state_dir or os.environ.get("STATE_DIRECTORY", "/var/lib/vigia"),
        log_level=raw.log_level,
        defaults=raw.defaults,
        probing=raw.probing,
        store=raw.store,
        web=raw.web.model_copy(update={"config_file": _beside(file, raw.web.config_file)}),
        targets=tuple(targets),
        maintenance=tuple(maintenance),
        zones=tuple(zones),
        continuity_plan=_beside(file, raw.continuity.plan) if raw.continuity else None,
        drills_paused=raw.continuity.paused if raw.continuity else False,
        raw=raw,
    )


def _paths(doc: Document, raw: FileSettings, state_dir: str | None) -> list[ConfigProblem]:
    """Paths the daemon will need, checked now rather than found broken at start."""
    out = []
    if raw.store.url_file:
        try:
            with open(raw.store.url_file, encoding="utf-8") as fh:
                fh.read(1)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            out.append(doc.problem(("store", "url_file"), f"cannot read {raw.store.url_file}: {why}"))
    chosen = state_dir or raw.state_dir
    if chosen and os.path.exists(chosen) and not os.path.isdir(chosen):
        where = ("state_dir",) if raw.state_dir and not state_dir else ()
        out.append(doc.problem(where, f"state_dir {chosen} exists and is not a directory"))
    return out


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0, p.key))


def _label_problems(doc: Document, t: TargetSettings, base: Path) -> list[ConfigProblem]:
    out = []
    for name in t.labels:
        if not _LABEL.match(name) or name.startswith("__"):
            out.append(doc.problem((*base, "labels", name), f"{name!r} is not a valid label name", key=True))
        elif name in RESERVED_LABELS:
            out.append(doc.problem((*base, "labels", name), f"label {name!r} is reserved by vigia", key=True))
    return out


def _targets(
    doc: Document,
    raw: FileSettings,
    entries: list[tuple[int, TargetSettings]],
    problems: list[ConfigProblem],
) -> list[Target]:
    out: list[Target] = []
    seen: dict[str, int] = {}
    d = raw.defaults
    for i, t in entries:
        base: Path = ("targets", i)
        if t.id in seen:
            first_line = doc.where(("targets", seen[t.id], "id"))[0]
            problems.append(doc.problem((*base, "id"), f"duplicate target id {t.id!r} (first at line {first_line})"))
        else:
            seen[t.id] = i
        problems += _label_problems(doc, t, base)
        kind = REGISTRY.get(t.probe)
        extra = dict(t.model_extra or {})
        if kind is None:
            problems.append(
                doc.problem((*base, "probe"), f"unknown probe kind {t.probe!r} (known: {', '.join(sorted(REGISTRY))})")
            )
            continue
        for key in extra:
            if key != kind.name:
                msg = "unknown key"
                if key in REGISTRY:
                    msg += f": this target's probe is {kind.name!r}, so its settings go under '{kind.name}:'"
                elif any(w in key.lower() for w in SECRET_WORDS):
                    msg += ": secrets are never written inline, use a *_file or *_env key"
                problems.append(doc.problem((*base, key), msg, key=True))
        section = extra.get(kind.name, {})
        if (
            kind.name not in extra
            and kind.settings.model_fields
            and any(f.is_required() for f in kind.settings.model_fields.values())
        ):
            problems.append(
                doc.problem((*base, kind.name), f"missing required key (settings of the {kind.name} probe)", key=True)
            )
            continue
        try:
            settings = kind.settings.model_validate(section if section is not None else {})
        except ValidationError as exc:
            problems += pydantic_problems(doc, exc, (*base, kind.name))
            continue
        interval = t.interval if t.interval is not None else d.interval
        timeout = t.timeout if t.timeout is not None else d.timeout
        if interval <= 0:
            problems.append(doc.problem((*base, "interval"), "interval must be positive"))
        if timeout >= interval:
            where = (*base, "timeout") if t.timeout is not None else ("defaults", "timeout")
            problems.append(
                doc.problem(
                    where,
                    f"timeout ({format_duration(timeout)}) must be shorter than the interval "
                    f"({format_duration(interval)}) of target {t.id!r}",
                )
            )
        out.append(
            Target(
                id=t.id,
                probe=kind.name,
                group=t.group,
                labels=dict(t.labels),
                description=t.description,
                interval=interval,
                timeout=timeout,
                failures_before_down=t.failures_before_down or d.failures_before_down,
                successes_before_up=t.successes_before_up or d.successes_before_up,
                packets=getattr(settings, "packets", None) or d.packets,
                settings=settings,
            )
        )
    if raw.defaults.timeout >= raw.defaults.interval:
        problems.append(doc.problem(("defaults", "timeout"), "timeout must be shorter than interval"))
    return out


def _zones(
    doc: Document, raw: FileSettings, items: object, targets: list[Target], problems: list[ConfigProblem]
) -> list[Zone]:
    """Validate the zones and append each zone's checks to ``targets`` (group "zones")."""
    if not isinstance(items, list):
        problems.append(doc.problem(("zones",), "zones must be a list"))
        return []
    zd, d = raw.zone_defaults, raw.defaults
    known = {t.id: t for t in targets}
    for j, wid in enumerate(zd.watchdog):
        if wid not in known:
            problems.append(doc.problem(("zone_defaults", "watchdog", j), f"unknown target {wid!r}"))
    interval = zd.interval or d.interval
    timeout = zd.timeout or d.timeout
    out: list[Zone] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        base: Path = ("zones", i)
        try:
            z = ZoneSettings.model_validate(item)
        except ValidationError as exc:
            problems += pydantic_problems(doc, exc, base)
            continue
        if z.id in seen:
            first = doc.where(("zones", seen[z.id], "id"))[0]
            problems.append(doc.problem((*base, "id"), f"duplicate zone id {z.id!r} (first at line {first})"))
            continue
        seen[z.id] = i
        if timeout >= interval:
            problems.append(doc.problem(("zone_defaults", "timeout"), "timeout must be shorter than the interval"))
        thresholds = z.thresholds or zd.thresholds
        checks: dict[str, str] = {}
        usage: dict[str, str] = {}
        for check, probe, settings in _zone_check_settings(doc, z, zd, thresholds, base, problems):
            tid = f"{z.id}:{check}"
            if tid in known:
                problems.append(doc.problem((*base, "id"), f"target id {tid!r} (made for this zone) already exists"))
                continue
            (checks if check in CHECKS else usage)[check] = tid
            known[tid] = Target(
                id=tid,
                probe=probe,
                group="zones",
                labels={"zone": z.id},
                description=f"{z.name} ({check})",
                interval=interval,
                timeout=timeout,
                failures_before_down=zd.failures_before_down or d.failures_before_down,
                successes_before_up=zd.successes_before_up or d.successes_before_up,
                packets=getattr(settings, "packets", None) or d.packets,
                settings=settings,
            )
            targets.append(known[tid])
        out.append(_zone(z, raw, thresholds, checks, usage, interval))
    return out


def _zone_check_settings(
    doc: Document,
    z: ZoneSettings,
    zd: ZoneDefaults,
    thresholds: ZoneThresholds,
    base: Path,
    problems: list[ConfigProblem],
) -> list[tuple[str, str, Settings]]:
    """(check, probe kind, settings) for each check the zone asks for: gateway, portal, dns, snmp."""
    specs: list[tuple[str, str, Settings]] = []
    if z.gateway:
        icmp = IcmpSettings(address=z.gateway, packets=zd.packets, max_loss_ratio=thresholds.down_loss_ratio)
        specs.append(("gateway", "icmp", icmp))
    if z.portal_url:
        try:
            specs.append(("portal", "http", HttpSettings(url=z.portal_url)))
        except ValidationError as exc:
            problems += pydantic_problems(doc, exc, (*base, "portal_url"))
    if z.dns:
        server = z.dns.server or z.gateway
        if not server:
            problems.append(doc.problem((*base, "dns"), "dns needs 'server' when the zone has no gateway"))
        else:
            try:
                dns = DnsSettings(server=server, name=z.dns.name, type=z.dns.type, expect_answers=z.dns.expect_answers)
                specs.append(("dns", "dns", dns))
            except ValidationError as exc:
                problems += pydantic_problems(doc, exc, (*base, "dns"))
    if z.snmp is not None:
        kind = REGISTRY.get("snmp")
        if kind is None:
            problems.append(doc.problem((*base, "snmp"), "the snmp probe is not available in this build"))
        else:
            try:
                specs.append(("snmp", "snmp", kind.settings.model_validate(z.snmp)))
            except ValidationError as exc:
                problems += pydantic_problems(doc, exc, (*base, "snmp"))
    return specs


def _zone(
    z: ZoneSettings,
    raw: FileSettings,
    thresholds: ZoneThresholds,
    checks: dict[str, str],
    usage: dict[str, str],
    interval: float,
) -> Zone:
    zd, d = raw.zone_defaults, raw.defaults
    hours_text = z.hours or zd.hours
    return Zone(
        id=z.id,
        name=z.name,
        barrio=z.barrio,
        ucg=z.ucg,
        localidad=z.localidad,
        area=z.area,
        lat=z.lat,
        lon=z.lon,
        hours=parse_hours(hours_text),
        hours_text=hours_text,
        sla_target=z.sla_target if z.sla_target is not None else zd.sla_target,
        bandwidth_bps=parse_bandwidth(z.bandwidth) if z.bandwidth else None,
        aliases=tuple(z.aliases),
        thresholds=thresholds,
        checks=checks,
        usage=usage,
        radius=z.radius,
        failures_before_down=zd.failures_before_down or d.failures_before_down,
        successes_before_up=zd.successes_before_up or d.successes_before_up,
        interval=interval,
    )


def _maintenance(
    doc: Document, raw: FileSettings, targets: list[Target], zones: list[Zone], problems: list[ConfigProblem]
) -> list[Maintenance]:
    out = []
    zone_ids = {z.id for z in zones}
    ids = {t.id for t in targets}
    groups = {t.group for t in targets}
    tz = zoneinfo.ZoneInfo(raw.timezone)
    for i, w in enumerate(raw.maintenance):
        base: Path = ("maintenance", i)
        for j, tid in enumerate(w.targets):
            if tid not in ids:
                problems.append(doc.problem((*base, "targets", j), f"unknown target {tid!r}"))
        for j, g in enumerate(w.groups):
            if g not in groups:
                problems.append(doc.problem((*base, "groups", j), f"no target is in group {g!r}"))
        for j, zid in enumerate(w.zones):
            if zid not in zone_ids:
                problems.append(doc.problem((*base, "zones", j), f"unknown zone {zid!r}"))
        if not w.targets and not w.groups and not w.zones:
            problems.append(doc.problem(base, "a maintenance window needs 'targets', 'groups' or 'zones'"))
        trigger = None
        if w.cron is not None:
            if w.duration is None or w.start is not None or w.end is not None:
                problems.append(doc.problem(base, "a recurring window takes 'cron' and 'duration' (not start/end)"))
            try:
                trigger = CronTrigger.from_crontab(w.cron, timezone=tz)
            except ValueError as exc:
                problems.append(doc.problem((*base, "cron"), f"invalid crontab expression: {exc}"))
        elif w.start is None or w.end is None:
            problems.append(doc.problem(base, "a window takes either 'cron' + 'duration' or 'start' + 'end'"))
        elif w.end <= w.start:
            problems.append(doc.problem((*base, "end"), "end must be after start"))
        members = set(w.targets) | {t.id for t in targets if t.group in w.groups}
        # A zone in a window takes its checks with it; group "zones" covers every zone.
        covered = set(w.zones) | (zone_ids if "zones" in w.groups else set())
        members |= covered | {t.id for t in targets if t.labels.get("zone") in covered}
        start = _aware(w.start, tz)
        end = _aware(w.end, tz)
        out.append(Maintenance(w.id, frozenset(members), w.reason, trigger, w.duration or 0.0, start, end))
    return out


def _aware(value: datetime | None, tz: zoneinfo.ZoneInfo) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz)


def check(file: str) -> list[ConfigProblem]:
    """Every problem in ``file``; empty when it is valid."""
    try:
        parse(file)
    except ConfigError as exc:
        return exc.problems
    return []
