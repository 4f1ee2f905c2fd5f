"""Node probe: a remote host's resources read from its node_exporter /metrics.

Gives the same value names as the ``host`` probe, so the data centre's servers
need no vigia of their own.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Annotated

from msgspec import Meta

from probes import host
from probes import result as r
from probes.http import HttpSettings, check_url, fetch
from probes.result import ProbeResult, Series, Timer
from probes.settings import Pattern, Settings

KIND = "node"
METRICS = host.METRICS


class NodeSettings(Settings, frozen=True):
    url: str  # node_exporter's metrics URL, e.g. http://10.0.0.5:9100/metrics
    tls_verify: bool = True
    ca_file: str | None = None
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 8 * 1_048_576
    filesystems_exclude: Pattern = Pattern("^(tmpfs|devtmpfs|squashfs|nsfs|proc|sysfs|autofs|overlay)$")
    interfaces_exclude: Pattern = Pattern("^(lo|veth.*)$")

    def __post_init__(self) -> None:
        check_url("url", self.url)  # the same rule as the http probe's, reported at this key


SETTINGS = NodeSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: NodeSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    fetched = await fetch(
        HttpSettings(
            url=settings.url,
            tls_verify=settings.tls_verify,
            ca_file=settings.ca_file,
            max_body_bytes=settings.max_body_bytes,
            follow_redirects=False,
        ),
        deadline=deadline,
    )
    if isinstance(fetched, tuple):
        return timer.fail(target, KIND, fetched[0], fetched[1])
    try:
        samples = _samples(fetched.decode("utf-8", "replace"))
    except ValueError as exc:
        return timer.fail(target, KIND, r.PROTOCOL, f"{settings.url}: not a Prometheus exposition ({exc})")
    if "node_boot_time_seconds" not in samples:
        return timer.fail(target, KIND, r.PROTOCOL, f"{settings.url}: no node_exporter metrics found")
    values, series = _values(target, samples, settings)
    return timer.ok(target, KIND, values, series=tuple(series))


Samples = dict[str, list[tuple[dict[str, str], float]]]


def _samples(text: str) -> Samples:
    out: Samples = defaultdict(list)
    # Loaded here: prometheus_client is a large package the zone agent (which has no node
    # check) and a daemon without one never need.
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((sample.labels, float(sample.value)))
    return out


def _one(samples: Samples, name: str) -> float | None:
    got = samples.get(name)
    return got[0][1] if got else None


def _values(target: str, samples: Samples, settings: NodeSettings) -> tuple[dict[str, float], list[Series]]:
    values: dict[str, float] = {}
    busy = total = 0.0
    cpus: set[str] = set()
    for labels, value in samples.get("node_cpu_seconds_total", []):
        cpus.add(labels.get("cpu", ""))
        total += value
        if labels.get("mode") not in ("idle", "iowait"):
            busy += value
    if cpus:
        values["cpus"] = float(len(cpus))
        ratio = host.cpu_ratio(target, busy, total)
        if ratio is not None:
            values["cpu_utilisation_ratio"] = ratio
    mem_total = _one(samples, "node_memory_MemTotal_bytes")
    mem_avail = _one(samples, "node_memory_MemAvailable_bytes")
    if mem_total is not None and mem_avail is not None:
        values["memory_total_bytes"] = mem_total
        values["memory_available_bytes"] = mem_avail
        values["memory_utilisation_ratio"] = 1.0 - mem_avail / mem_total if mem_total else 0.0
    swap_total = _one(samples, "node_memory_SwapTotal_bytes")
    swap_free = _one(samples, "node_memory_SwapFree_bytes")
    if swap_total is not None and swap_free is not None:
        values["swap_total_bytes"] = swap_total
        values["swap_used_bytes"] = swap_total - swap_free
    for n in ("1", "5", "15"):
        load = _one(samples, f"node_load{n}")
        if load is not None:
            values[f"load{n}"] = load
    boot = _one(samples, "node_boot_time_seconds")
    now = _one(samples, "node_time_seconds")
    if boot is not None:
        values["boot_time_seconds"] = boot
        if now is not None:
            values["uptime_seconds"] = max(0.0, now - boot)
    series: list[Series] = []
    skip_fs = re.compile(settings.filesystems_exclude)
    avail = {
        (lb.get("device", ""), lb.get("mountpoint", "")): v for lb, v in samples.get("node_filesystem_avail_bytes", [])
    }
    for labels, size in samples.get("node_filesystem_size_bytes", []):
        fstype = labels.get("fstype", "")
        key = (labels.get("device", ""), labels.get("mountpoint", ""))
        if skip_fs.search(fstype) or key not in avail:
            continue
        series += host.filesystem_series(key[1], fstype, key[0], size, avail[key])
    skip_if = re.compile(settings.interfaces_exclude)
    for name, metric in (
        ("network_receive_bytes_total", "node_network_receive_bytes_total"),
        ("network_transmit_bytes_total", "node_network_transmit_bytes_total"),
    ):
        for labels, value in samples.get(metric, []):
            device = labels.get("device", "")
            if not skip_if.search(device):
                series.append(Series(name, (("device", device),), value))
    return values, series
