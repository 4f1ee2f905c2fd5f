"""Data-centre optimisation figures from measured host data: utilisation statistics (mean, p95,
max), capacity against use, availability of hosts and services, verdicts and recommendations by
configurable rules (each with the figures behind it), filesystems' forecast days to full.

The month's figures are a plain JSON-able mapping: frozen at month close and rendered from there,
so a re-closed month shows the same figures after raw results have been rolled up."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.availability import Period, zone_availability
from domain.schedule import Schedule
from store.reader import Reader


@dataclass(frozen=True)
class Stats:
    mean: float
    p95: float
    max: float
    samples: int


def stats(values: Sequence[float]) -> Stats | None:
    """Mean, 95th percentile (nearest rank) and maximum."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return Stats(math.fsum(ordered) / len(ordered), ordered[rank - 1], ordered[-1], len(ordered))


@dataclass(frozen=True)
class Rules:
    underused_cpu_p95: float = 0.10
    underused_memory_p95: float = 0.30
    saturated_p95: float = 0.80
    filesystem_warning_days: float = 90.0
    availability_target: float = 0.995


@dataclass
class HostFigures:
    target: str
    cpu: Stats | None = None
    memory: Stats | None = None
    filesystems: dict[str, FilesystemFigures] = field(default_factory=dict)
    verdicts: list[str] = field(default_factory=list)
    network_bps: Stats | None = None  # received + transmitted, all interfaces, bits per second
    cpus: float | None = None  # as the host reports them
    memory_bytes: float | None = None


@dataclass(frozen=True)
class FilesystemFigures:
    mountpoint: str
    utilisation: Stats
    size_bytes: float
    slope_per_day: float | None  # growth of the used share per day, from daily maxima
    days_to_full: float | None


def linear_fit(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x; None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = math.fsum(x for x, _ in points) / n
    my = math.fsum(y for _, y in points) / n
    sxx = math.fsum((x - mx) ** 2 for x, _ in points)
    sxy = math.fsum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx


def filesystem(
    mountpoint: str, samples: Iterable[tuple[float, float, float]], tz: ZoneInfo
) -> FilesystemFigures | None:
    """``samples``: (unix time, used share 0-1, size bytes). Days to full from the trend of daily maxima."""
    rows = list(samples)
    if not rows:
        return None
    daily: dict[int, float] = defaultdict(float)
    for ts, used, _ in rows:
        day = datetime.fromtimestamp(ts, tz).toordinal()
        daily[day] = max(daily[day], used)
    points = sorted(daily.items())
    slope = linear_fit([(float(d), u) for d, u in points])
    last = points[-1][1]
    days = (1.0 - last) / slope if slope is not None and slope > 0 else None
    st_ = stats([u for _, u, _ in rows])
    assert st_ is not None
    return FilesystemFigures(mountpoint, st_, rows[-1][2], slope, days)


def judge(host: HostFigures, rules: Rules) -> list[str]:
    out = []
    if (
        host.cpu
        and host.memory
        and host.cpu.p95 < rules.underused_cpu_p95
        and host.memory.p95 < rules.underused_memory_p95
    ):
        out.append("underused")
    if (host.cpu and host.cpu.p95 > rules.saturated_p95) or (host.memory and host.memory.p95 > rules.saturated_p95):
        out.append("saturated")
    for fs in host.filesystems.values():
        if fs.days_to_full is not None and fs.days_to_full <= rules.filesystem_warning_days:
            out.append(f"filesystem_filling:{fs.mountpoint}")
    return out


def _network_rate(
    target: str, ts: float, series: list[Any], last: dict[tuple[str, str], tuple[float, float]]
) -> float | None:
    """Bits per second since the previous sample, summed over interfaces; a counter that went
    backwards (reboot) restarts its interface instead of counting a negative rate."""
    total, seen = 0.0, False
    for name, labels, value in series:
        if name not in ("network_receive_bytes_total", "network_transmit_bytes_total"):
            continue
        key = (target, f"{name}/{labels.get('device', '')}")
        prev = last.get(key)
        last[key] = (ts, float(value))
        if prev is None or ts <= prev[0] or value < prev[1]:
            continue
        total += (float(value) - prev[1]) * 8 / (ts - prev[0])
        seen = True
    return total if seen else None


def host_figures(
    reader: Reader,
    targets: Sequence[str],
    start: float,
    end: float,
    tz: ZoneInfo,
    rules: Rules | None = None,
) -> dict[str, HostFigures]:
    """Figures of host/node targets over [start, end), from their stored probe results."""
    rules = rules or Rules()
    cpu: dict[str, list[float]] = defaultdict(list)
    mem: dict[str, list[float]] = defaultdict(list)
    fs: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    net: dict[str, list[float]] = defaultdict(list)
    last_octets: dict[tuple[str, str], tuple[float, float]] = {}
    capacity: dict[str, tuple[float | None, float | None]] = {}
    for target, ts, d in reader.successes(targets, start, end):
        values = d.get("values", {})
        capacity[target] = (values.get("cpus"), values.get("memory_total_bytes"))
        rate = _network_rate(target, ts, d.get("series", []), last_octets)
        if rate is not None:
            net[target].append(rate)
        if "cpu_utilisation_ratio" in values:
            cpu[target].append(float(values["cpu_utilisation_ratio"]))
        if "memory_utilisation_ratio" in values:
            mem[target].append(float(values["memory_utilisation_ratio"]))
        sizes = {}
        for name, labels, value in d.get("series", []):
            if name == "filesystem_size_bytes":
                sizes[labels.get("mountpoint", "")] = float(value)
        for name, labels, value in d.get("series", []):
            if name == "filesystem_utilisation_ratio":
                mount = labels.get("mountpoint", "")
                fs[(target, mount)].append((ts, float(value), sizes.get(mount, 0.0)))
    out = {}
    for target in targets:
        h = HostFigures(target, stats(cpu[target]), stats(mem[target]), network_bps=stats(net[target]))
        h.cpus, h.memory_bytes = capacity.get(target, (None, None))
        for (t, mount), rows in fs.items():
            if t == target:
                f = filesystem(mount, rows, tz)
                if f is not None:
                    h.filesystems[mount] = f
        h.verdicts = judge(h, rules)
        out[target] = h
    return out


# --- the month, as the report shows it ------------------------------------------


@dataclass(frozen=True)
class Inventory:
    """Capacity a host is known to have (the configuration's datacenter.hosts), where set."""

    vcpus: int | None = None
    memory: float | None = None  # bytes
    disk: float | None = None  # bytes
    link: float | None = None  # bits per second
    role: str = ""


def _stats(s: Stats | None) -> dict[str, float] | None:
    return None if s is None else {"mean": s.mean, "p95": s.p95, "max": s.max, "samples": s.samples}


def _availability(
    periods: list[Period],
    covered: list[tuple[float, float]],
    window: tuple[float, float],
    tz: ZoneInfo,
    schedule: Schedule | None = None,
) -> Any:
    """Within the service's scheduled hours (targets[].hours or its group's), else the whole month."""
    a = zone_availability(periods, covered, window, tz, schedule)
    return {
        "scheduled_seconds": a.operating_seconds,
        "hours": None if schedule is None else {lang: schedule.plan.describe(lang) for lang in ("es", "en")},
        "availability": a.availability,
        "downtime_seconds": a.downtime_seconds,
        "maintenance_seconds": a.maintenance_seconds,
        "coverage": a.coverage,
        "incidents": a.incidents,
        "mttr_seconds": a.mttr_seconds,
    }


def _response(reader: Reader, targets: Sequence[str], start: float, end: float) -> dict[str, Any]:
    out: dict[str, list[float]] = defaultdict(list)
    probes: dict[str, str] = {}
    for target, probe, duration in reader.durations(targets, start, end):
        out[target].append(duration)
        probes[target] = probe
    return {t: (probes.get(t, ""), stats(out[t])) for t in targets}


def recommendations(host: dict[str, Any], rules: Rules) -> list[dict[str, Any]]:
    """What the rules say about one host, each with the figures behind it (the template words them)."""
    out: list[dict[str, Any]] = []
    cpu, mem = host["cpu"], host["memory"]
    for verdict in host["verdicts"]:
        if verdict == "underused":
            out.append(
                {
                    "kind": "consolidate",
                    "control": "A.8.6",
                    "asset": host["target"],
                    "figures": {
                        "cpu_p95": cpu["p95"],
                        "memory_p95": mem["p95"],
                        "cpu_rule": rules.underused_cpu_p95,
                        "memory_rule": rules.underused_memory_p95,
                    },
                }
            )
        elif verdict == "saturated":
            out.append(
                {
                    "kind": "expand",
                    "control": "A.8.6",
                    "asset": host["target"],
                    "figures": {
                        "cpu_p95": cpu["p95"] if cpu else None,
                        "memory_p95": mem["p95"] if mem else None,
                        "rule": rules.saturated_p95,
                    },
                }
            )
        elif verdict.startswith("filesystem_filling:"):
            fs = next(f for f in host["filesystems"] if f["mountpoint"] == verdict.split(":", 1)[1])
            out.append(
                {
                    "kind": "filesystem",
                    "control": "A.8.6",
                    "asset": host["target"],
                    "figures": {
                        "mountpoint": fs["mountpoint"],
                        "max": fs["max"],
                        "days_to_full": fs["days_to_full"],
                        "slope_per_day": fs["slope_per_day"],
                        "rule": rules.filesystem_warning_days,
                    },
                }
            )
        elif verdict == "network_saturated":
            out.append(
                {
                    "kind": "network",
                    "control": "A.8.6",
                    "asset": host["target"],
                    "figures": {"p95": host["network_util"]["p95"], "rule": rules.saturated_p95},
                }
            )
    return out


def _redundancy(target: str, avail: dict[str, Any], rules: Rules) -> dict[str, Any] | None:
    a = avail["availability"]
    if a is None or a >= rules.availability_target:
        return None
    return {
        "kind": "redundancy",
        "control": "A.8.14",
        "asset": target,
        "figures": {
            "availability": a,
            "target": rules.availability_target,
            "downtime_seconds": avail["downtime_seconds"],
            "incidents": avail["incidents"],
        },
    }


def month(
    reader: Reader,
    hosts: dict[str, Inventory],
    services: Sequence[str],
    window: tuple[float, float],
    tz: ZoneInfo,
    rules: Rules,
    schedules: Mapping[str, Schedule] | None = None,
) -> dict[str, Any]:
    """The month's data-centre figures (JSON-able): hosts, services, top consumers, recommendations.
    ``schedules``: the operating hours of targets that have them (their availability counts those)."""
    hours = schedules or {}
    start, end = window
    figures = host_figures(reader, list(hosts), start, end, tz, rules)
    periods = reader.periods([*hosts, *services], start, end)
    covered = reader.run_coverage(start, end)
    out_hosts = []
    recs: list[dict[str, Any]] = []
    for target, inv in hosts.items():
        avail = _availability(periods[target], covered, window, tz, hours.get(target))
        row = _host_row(target, inv, figures[target], avail, rules)
        out_hosts.append(row)
        recs += recommendations(row, rules)
        red = _redundancy(target, row["availability"], rules)
        if red:
            recs.append(red)
    out_services = []
    for target, (probe, resp) in _response(reader, list(services), start, end).items():
        avail = _availability(periods[target], covered, window, tz, hours.get(target))
        out_services.append({"target": target, "probe": probe, "availability": avail, "response": _stats(resp)})
        red = _redundancy(target, avail, rules)
        if red:
            recs.append(red)

    def top(key: str) -> list[dict[str, Any]]:
        ranked = [h for h in out_hosts if h[key]]
        return sorted(ranked, key=lambda h: (-h[key]["p95"], h["target"]))[:5]

    fs_all = [{"target": h["target"], **f} for h in out_hosts for f in h["filesystems"]]
    return {
        "window": [start, end],
        "rules": asdict(rules),
        "hosts": out_hosts,
        "services": out_services,
        "top_cpu": [h["target"] for h in top("cpu")],
        "top_memory": [h["target"] for h in top("memory")],
        "top_filesystems": sorted(fs_all, key=lambda f: (-f["max"], f["target"], f["mountpoint"]))[:5],
        "recommendations": recs,
        "summary": {
            "hosts": len(out_hosts),
            "underused": sum("underused" in h["verdicts"] for h in out_hosts),
            "saturated": sum("saturated" in h["verdicts"] for h in out_hosts),
            "cpu_p95_mean": _mean([h["cpu"]["p95"] for h in out_hosts if h["cpu"]]),
            "memory_p95_mean": _mean([h["memory"]["p95"] for h in out_hosts if h["memory"]]),
            "service_availability": _mean(
                [
                    s["availability"]["availability"]
                    for s in out_services
                    if s["availability"]["availability"] is not None
                ]
            ),
        },
    }


def _host_row(
    target: str, inv: Inventory, h: HostFigures, availability: dict[str, Any], rules: Rules
) -> dict[str, Any]:
    """One host's month: utilisation, capacity, filesystems, availability and rule verdicts."""
    link_util = None
    if inv.link and h.network_bps:
        link_util = {
            k: v / inv.link
            for k, v in (("mean", h.network_bps.mean), ("p95", h.network_bps.p95), ("max", h.network_bps.max))
        }
    disks = sum(f.size_bytes for f in h.filesystems.values())
    verdicts = list(h.verdicts)
    if link_util and link_util["p95"] > rules.saturated_p95:
        verdicts.append("network_saturated")
    row = {
        "target": target,
        "role": inv.role,
        "cpu": _stats(h.cpu),
        "memory": _stats(h.memory),
        "network_bps": _stats(h.network_bps),
        "network_util": link_util,
        "capacity": {
            "vcpus": inv.vcpus or h.cpus,
            "memory_bytes": inv.memory or h.memory_bytes,
            "disk_bytes": inv.disk or (disks or None),
            "link_bps": inv.link,
        },
        "filesystems": [
            {
                "mountpoint": f.mountpoint,
                "mean": f.utilisation.mean,
                "p95": f.utilisation.p95,
                "max": f.utilisation.max,
                "size_bytes": f.size_bytes,
                "slope_per_day": f.slope_per_day,
                "days_to_full": f.days_to_full,
            }
            for f in sorted(h.filesystems.values(), key=lambda f: f.mountpoint)
        ],
        "availability": availability,
        "verdicts": verdicts,
    }
    return row


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
