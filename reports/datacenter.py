"""Data-centre optimisation figures from measured host data: utilisation statistics (mean, p95,
max), capacity against use, availability of hosts and services, verdicts and recommendations by
configurable rules (each with the figures behind it), filesystems' forecast days to full.

The month as the report shows it (typed, frozen at month close) is reports.datacenter_month."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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


@dataclass(frozen=True)
class Inventory:
    """Capacity a host is known to have (the configuration's datacenter.hosts), where set."""

    vcpus: int | None = None
    memory: float | None = None  # bytes
    disk: float | None = None  # bytes
    link: float | None = None  # bits per second
    role: str = ""
