"""Host probe: the local machine's resources through psutil.

The same value names come from the ``node`` probe for remote hosts, so both
land in the same metrics and the same report columns.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time

import psutil

from probes.result import MetricSpec, ProbeResult, Series, Timer, remaining
from probes.settings import Pattern, Settings

KIND = "host"


class HostSettings(Settings, frozen=True):
    filesystems_exclude: Pattern = Pattern("^(tmpfs|devtmpfs|squashfs|nsfs|proc|sysfs|autofs|overlay)$")  # fstypes
    interfaces_exclude: Pattern = Pattern("^(lo|veth.*|vg-.*)$")


METRICS = (
    MetricSpec(
        "cpu_utilisation_ratio",
        "host_cpu_utilisation_ratio",
        "Share of CPU time not idle since the previous probe (0-1).",
    ),
    MetricSpec("cpus", "host_cpus", "Logical CPUs."),
    MetricSpec("memory_total_bytes", "host_memory_total_bytes", "Physical memory."),
    MetricSpec(
        "memory_available_bytes", "host_memory_available_bytes", "Memory available to new processes without swapping."
    ),
    MetricSpec("memory_utilisation_ratio", "host_memory_utilisation_ratio", "1 - available/total."),
    MetricSpec("swap_total_bytes", "host_swap_total_bytes", "Swap space."),
    MetricSpec("swap_used_bytes", "host_swap_used_bytes", "Swap space in use."),
    MetricSpec("load1", "host_load1", "Load average over 1 minute."),
    MetricSpec("load5", "host_load5", "Load average over 5 minutes."),
    MetricSpec("load15", "host_load15", "Load average over 15 minutes."),
    MetricSpec("uptime_seconds", "host_uptime_seconds", "Seconds since boot."),
    MetricSpec("boot_time_seconds", "host_boot_time_seconds", "Unix time of the last boot."),
    MetricSpec("filesystem_size_bytes", "host_filesystem_size_bytes", "Filesystem size."),
    MetricSpec(
        "filesystem_avail_bytes", "host_filesystem_avail_bytes", "Filesystem space available to unprivileged users."
    ),
    MetricSpec("filesystem_utilisation_ratio", "host_filesystem_utilisation_ratio", "1 - avail/size."),
    MetricSpec(
        "network_receive_bytes_total", "host_network_receive_bytes_total", "Bytes received by the interface.", "counter"
    ),
    MetricSpec(
        "network_transmit_bytes_total", "host_network_transmit_bytes_total", "Bytes sent by the interface.", "counter"
    ),
)

_cpu_lock = threading.Lock()
_cpu_previous: dict[str, tuple[float, float]] = {}  # target -> (busy, total) seconds


def cpu_ratio(target: str, busy: float, total: float) -> float | None:
    """Utilisation between this sample and the previous one of the same target."""
    with _cpu_lock:
        previous = _cpu_previous.get(target)
        _cpu_previous[target] = (busy, total)
    if previous is None or total <= previous[1]:
        return None
    return min(1.0, max(0.0, (busy - previous[0]) / (total - previous[1])))


def _cpu_sample() -> tuple[float, float]:
    times = psutil.cpu_times()
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def filesystem_series(mount: str, fstype: str, device: str, size: float, avail: float) -> list[Series]:
    labels = (("device", device), ("fstype", fstype), ("mountpoint", mount))
    out = [Series("filesystem_size_bytes", labels, size), Series("filesystem_avail_bytes", labels, avail)]
    if size > 0:
        out.append(Series("filesystem_utilisation_ratio", labels, 1.0 - avail / size))
    return out


SETTINGS = HostSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: HostSettings, *, deadline: float) -> ProbeResult:
    # psutil reads /proc synchronously: off the probe loop, in its default executor.
    return await asyncio.to_thread(_read, target, settings, deadline)


def _read(target: str, settings: HostSettings, deadline: float) -> ProbeResult:
    timer = Timer()
    busy, total = _cpu_sample()
    ratio = cpu_ratio(target, busy, total)
    if ratio is None:
        # First probe of this target: measure over a short window instead of reporting nothing.
        time.sleep(min(0.25, remaining(deadline) / 2))
        busy, total = _cpu_sample()
        ratio = cpu_ratio(target, busy, total)
    values: dict[str, float] = {"cpus": float(psutil.cpu_count() or 0)}
    if ratio is not None:
        values["cpu_utilisation_ratio"] = ratio
    mem = psutil.virtual_memory()
    values["memory_total_bytes"] = float(mem.total)
    values["memory_available_bytes"] = float(mem.available)
    values["memory_utilisation_ratio"] = 1.0 - mem.available / mem.total if mem.total else 0.0
    swap = psutil.swap_memory()
    values["swap_total_bytes"] = float(swap.total)
    values["swap_used_bytes"] = float(swap.used)
    values["load1"], values["load5"], values["load15"] = (float(x) for x in os.getloadavg())
    boot = psutil.boot_time()
    values["boot_time_seconds"] = boot
    values["uptime_seconds"] = max(0.0, time.time() - boot)
    series: list[Series] = []
    skip_fs = re.compile(settings.filesystems_exclude)
    seen: set[str] = set()
    for part in psutil.disk_partitions(all=False):
        if skip_fs.search(part.fstype) or part.mountpoint in seen:
            continue
        seen.add(part.mountpoint)
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue  # a mount that vanished or denies stat is not this host's failure
        series += filesystem_series(part.mountpoint, part.fstype, part.device, float(usage.total), float(usage.free))
    skip_if = re.compile(settings.interfaces_exclude)
    for name, io in sorted(psutil.net_io_counters(pernic=True).items()):
        if skip_if.search(name):
            continue
        series.append(Series("network_receive_bytes_total", (("device", name),), float(io.bytes_recv)))
        series.append(Series("network_transmit_bytes_total", (("device", name),), float(io.bytes_sent)))
    return timer.ok(target, KIND, values, series=tuple(series))
