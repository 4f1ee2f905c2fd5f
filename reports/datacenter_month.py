"""The data-centre month as the report shows it: hosts, services, top consumers, recommendations.

Typed figures (dataclasses), frozen at month close as JSON (reports.shape) and rendered from
there, so a re-closed month shows the same figures after raw results have been rolled up."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from domain.availability import Period, zone_availability
from domain.schedule import Schedule
from reports.datacenter import HostFigures, Inventory, Rules, Stats, host_figures, stats
from store.reader import Reader

Figure = int | float | str | None  # int first: a count stays a count through the snapshot


@dataclass(frozen=True)
class Availability:
    """Within the service's scheduled hours (``hours`` in words, by language), else the month."""

    scheduled_seconds: float
    hours: dict[str, str] | None
    availability: float | None
    downtime_seconds: float
    maintenance_seconds: float
    coverage: float | None
    incidents: int
    mttr_seconds: float | None


@dataclass(frozen=True)
class LinkUse:
    mean: float
    p95: float
    max: float


@dataclass(frozen=True)
class Capacity:
    vcpus: float | None
    memory_bytes: float | None
    disk_bytes: float | None
    link_bps: float | None


@dataclass(frozen=True)
class FilesystemRow:
    mountpoint: str
    mean: float
    p95: float
    max: float
    size_bytes: float
    slope_per_day: float | None
    days_to_full: float | None
    target: str = ""  # set in the month's top list, where rows of several hosts meet


@dataclass(frozen=True)
class HostRow:
    target: str
    role: str
    cpu: Stats | None
    memory: Stats | None
    network_bps: Stats | None
    network_util: LinkUse | None
    capacity: Capacity
    filesystems: list[FilesystemRow]
    availability: Availability
    verdicts: list[str]


@dataclass(frozen=True)
class ServiceRow:
    target: str
    probe: str
    availability: Availability
    response: Stats | None


@dataclass(frozen=True)
class Recommendation:
    kind: str  # consolidate | expand | filesystem | network | redundancy: the template words it
    control: str  # ISO/IEC 27001:2022 Annex A
    asset: str
    figures: dict[str, Figure]  # the figures behind it, by name, and the rule they broke


@dataclass(frozen=True)
class Summary:
    hosts: int
    underused: int
    saturated: int
    cpu_p95_mean: float | None
    memory_p95_mean: float | None
    service_availability: float | None


@dataclass(frozen=True)
class DatacenterMonth:
    window: tuple[float, float]
    rules: Rules
    hosts: list[HostRow]
    services: list[ServiceRow]
    top_cpu: list[str]
    top_memory: list[str]
    top_filesystems: list[FilesystemRow]
    recommendations: list[Recommendation]
    summary: Summary


def _availability(
    periods: list[Period],
    covered: list[tuple[float, float]],
    window: tuple[float, float],
    tz: ZoneInfo,
    schedule: Schedule | None = None,
) -> Availability:
    a = zone_availability(periods, covered, window, tz, schedule)
    hours = None if schedule is None else {lang: schedule.plan.describe(lang) for lang in ("es", "en")}
    return Availability(
        a.operating_seconds, hours, a.availability, a.downtime_seconds, a.maintenance_seconds, a.coverage,
        a.incidents, a.mttr_seconds,
    )  # fmt: skip


def _response(reader: Reader, targets: Sequence[str], start: float, end: float) -> dict[str, tuple[str, Stats | None]]:
    out: dict[str, list[float]] = defaultdict(list)
    probes: dict[str, str] = {}
    for target, probe, duration in reader.durations(targets, start, end):
        out[target].append(duration)
        probes[target] = probe
    return {t: (probes.get(t, ""), stats(out[t])) for t in targets}


def _rec(kind: str, asset: str, control: str = "A.8.6", **figures: Figure) -> Recommendation:
    return Recommendation(kind, control, asset, figures)


def recommendations(host: HostRow, rules: Rules) -> list[Recommendation]:
    """What the rules say about one host, each with the figures behind it (the template words them)."""
    out: list[Recommendation] = []
    cpu, mem = host.cpu, host.memory
    for verdict in host.verdicts:
        if verdict == "underused" and cpu and mem:
            out.append(_rec("consolidate", host.target, cpu_p95=cpu.p95, memory_p95=mem.p95,
                            cpu_rule=rules.underused_cpu_p95, memory_rule=rules.underused_memory_p95))  # fmt: skip
        elif verdict == "saturated":
            out.append(_rec("expand", host.target, cpu_p95=cpu.p95 if cpu else None,
                            memory_p95=mem.p95 if mem else None, rule=rules.saturated_p95))  # fmt: skip
        elif verdict.startswith("filesystem_filling:"):
            fs = next(f for f in host.filesystems if f.mountpoint == verdict.split(":", 1)[1])
            out.append(_rec("filesystem", host.target, mountpoint=fs.mountpoint, max=fs.max,
                            days_to_full=fs.days_to_full, slope_per_day=fs.slope_per_day,
                            rule=rules.filesystem_warning_days))  # fmt: skip
        elif verdict == "network_saturated" and host.network_util:
            out.append(_rec("network", host.target, p95=host.network_util.p95, rule=rules.saturated_p95))
    return out


def _redundancy(target: str, avail: Availability, rules: Rules) -> Recommendation | None:
    a = avail.availability
    if a is None or a >= rules.availability_target:
        return None
    return _rec("redundancy", target, "A.8.14", availability=a, target=rules.availability_target,
                downtime_seconds=avail.downtime_seconds, incidents=avail.incidents)  # fmt: skip


def month(
    reader: Reader,
    hosts: dict[str, Inventory],
    services: Sequence[str],
    window: tuple[float, float],
    tz: ZoneInfo,
    rules: Rules,
    schedules: Mapping[str, Schedule] | None = None,
) -> DatacenterMonth:
    """The month's data-centre figures. ``schedules``: the operating hours of targets that have
    them (their availability counts those)."""
    hours = schedules or {}
    start, end = window
    figures = host_figures(reader, list(hosts), start, end, tz, rules)
    periods = reader.periods([*hosts, *services], start, end)
    covered = reader.run_coverage(start, end)
    rows, recs = [], []
    for target, inv in hosts.items():
        row = _host_row(target, inv, figures[target], _availability(periods[target], covered, window, tz,
                        hours.get(target)), rules)  # fmt: skip
        rows.append(row)
        recs += recommendations(row, rules)
        recs += filter(None, [_redundancy(target, row.availability, rules)])
    served = []
    for target, (probe, resp) in _response(reader, list(services), start, end).items():
        served.append(ServiceRow(target, probe, _availability(periods[target], covered, window, tz,
                                 hours.get(target)), resp))  # fmt: skip
        recs += filter(None, [_redundancy(target, served[-1].availability, rules)])
    return DatacenterMonth((start, end), rules, rows, served, _top(rows, "cpu"), _top(rows, "memory"),
                           _fullest(rows), recs, _summary(rows, served))  # fmt: skip


def _top(rows: list[HostRow], key: str) -> list[str]:
    """The five hosts whose ``key`` (cpu or memory) p95 is highest."""
    ranked = [(s.p95, h.target) for h in rows if (s := getattr(h, key)) is not None]
    return [target for _, target in sorted(ranked, key=lambda r: (-r[0], r[1]))[:5]]


def _fullest(rows: list[HostRow]) -> list[FilesystemRow]:
    every = [FilesystemRow(**{**vars(f), "target": h.target}) for h in rows for f in h.filesystems]
    return sorted(every, key=lambda f: (-f.max, f.target, f.mountpoint))[:5]


def _summary(rows: list[HostRow], served: list[ServiceRow]) -> Summary:
    return Summary(
        len(rows),
        sum("underused" in h.verdicts for h in rows),
        sum("saturated" in h.verdicts for h in rows),
        _mean([h.cpu.p95 for h in rows if h.cpu]),
        _mean([h.memory.p95 for h in rows if h.memory]),
        _mean([s.availability.availability for s in served if s.availability.availability is not None]),
    )


def _host_row(target: str, inv: Inventory, h: HostFigures, availability: Availability, rules: Rules) -> HostRow:
    """One host's month: utilisation, capacity, filesystems, availability and rule verdicts."""
    bps = h.network_bps
    link = LinkUse(bps.mean / inv.link, bps.p95 / inv.link, bps.max / inv.link) if inv.link and bps else None
    disks = sum(f.size_bytes for f in h.filesystems.values())
    verdicts = list(h.verdicts)
    if link and link.p95 > rules.saturated_p95:
        verdicts.append("network_saturated")
    filesystems = [
        FilesystemRow(f.mountpoint, f.utilisation.mean, f.utilisation.p95, f.utilisation.max, f.size_bytes,
                      f.slope_per_day, f.days_to_full)
        for f in sorted(h.filesystems.values(), key=lambda f: f.mountpoint)
    ]  # fmt: skip
    capacity = Capacity(inv.vcpus or h.cpus, inv.memory or h.memory_bytes, inv.disk or (disks or None), inv.link)
    return HostRow(target, inv.role, h.cpu, h.memory, bps, link, capacity, filesystems, availability, verdicts)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
