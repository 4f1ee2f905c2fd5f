"""Zones: each zone's entry checked, its checks made targets of group "zones"."""

from __future__ import annotations

from pydantic import ValidationError

from config.inherit import Timing, packets, timing
from config.sections import FileSettings
from domain.agents import checks_of
from domain.schedule import Calendar, Schedule, WeekPlan
from domain.target import Target
from domain.zones import (
    CHECKS,
    Zone,
    ZoneDefaults,
    ZoneSettings,
    ZoneThresholds,
    parse_bandwidth,
    zone_checks,
)
from kernel.errors import ConfigProblem
from kernel.spec import SpecError, convert
from kernel.yamlsource import Document, Path, pydantic_problems, spec_problems
from probes import REGISTRY
from probes.settings import Settings


def resolve_zones(
    doc: Document,
    raw: FileSettings,
    items: object,
    targets: list[Target],
    problems: list[ConfigProblem],
    calendar: Calendar,
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
    timed = timing(zd, d)
    if items and timed["timeout"] >= timed["interval"]:
        problems.append(doc.problem(("zone_defaults", "timeout"), "timeout must be shorter than the interval"))
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
        if z.uplink is not None and z.uplink not in known:
            problems.append(doc.problem((*base, "uplink"), f"unknown target {z.uplink!r} (the uplink is a target id)"))
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
                tid, probe, "zones", {"zone": z.id}, f"{z.name} ({check})", **timed, packets=packets(settings, d),
                settings=settings,
            )  # fmt: skip
            targets.append(known[tid])
        problems += _agent_problems(doc, z, base)
        out.append(_zone(z, raw, thresholds, checks, usage, timed, calendar))
    return out


def _zone_check_settings(
    doc: Document,
    z: ZoneSettings,
    zd: ZoneDefaults,
    thresholds: ZoneThresholds,
    base: Path,
    problems: list[ConfigProblem],
) -> list[tuple[str, str, Settings]]:
    """(check, probe kind, settings) for each check the zone asks for, each validated by its probe's
    own settings model (from the registry)."""
    specs, wrong = zone_checks(z, zd, thresholds)
    problems += [doc.problem((*base, key), message) for key, message in wrong]
    out: list[tuple[str, str, Settings]] = []
    for spec in specs:
        kind = REGISTRY.get(spec.probe)
        if kind is None:
            problems.append(doc.problem((*base, spec.key), f"the {spec.probe} probe is not available in this build"))
            continue
        try:
            out.append((spec.check, spec.probe, convert(kind.settings, spec.settings)))
        except SpecError as exc:
            problems += spec_problems(doc, exc, (*base, spec.key))
    return out


def _agent_problems(doc: Document, z: ZoneSettings, base: Path) -> list[ConfigProblem]:
    """The agent's checks validated by their probes' models here, at the centre: an agent never
    fetches a check it cannot run."""
    if z.agent is None:
        return []
    out = []
    for check in checks_of(z.agent):
        kind = REGISTRY[check.probe]
        try:
            convert(kind.settings, check.settings)
        except SpecError as exc:
            out += spec_problems(doc, exc, (*base, "agent", check.check.split(":")[0]))
    return out


def _zone(
    z: ZoneSettings,
    raw: FileSettings,
    thresholds: ZoneThresholds,
    checks: dict[str, str],
    usage: dict[str, str],
    timed: Timing,
    calendar: Calendar,
) -> Zone:
    zd = raw.zone_defaults
    hours = z.hours if z.hours is not None else zd.hours
    plan = WeekPlan.parse(hours)
    return Zone(
        id=z.id,
        name=z.name,
        barrio=z.barrio,
        ucg=z.ucg,
        localidad=z.localidad,
        area=z.area,
        lat=z.lat,
        lon=z.lon,
        hours=Schedule(plan, calendar, z.id),
        hours_text=hours if isinstance(hours, str) else plan.describe("es"),
        sla_target=z.sla_target if z.sla_target is not None else zd.sla_target,
        bandwidth_bps=parse_bandwidth(z.bandwidth) if z.bandwidth else None,
        aliases=tuple(z.aliases),
        thresholds=thresholds,
        checks=checks,
        usage=usage,
        radius=z.radius,
        failures_before_down=timed["failures_before_down"],
        successes_before_up=timed["successes_before_up"],
        interval=timed["interval"],
        uplink=z.uplink or "",
        agent=z.agent,
    )
