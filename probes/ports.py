"""Ports probe (security audit): which of a host's configured ports answer, and whether any of
them is outside the host's allowed list. Only the listed ports of the configured host are ever
tried, with one TCP connect each, under the probe's deadline: this is no scanner."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from msgspec import Meta

from probes import result as r
from probes.netutil import ProbeFailure, connect
from probes.result import MetricSpec, ProbeResult, Series, Timer
from probes.settings import Name, Port, Settings
from probes.sightings import Sightings, Thresholds

KIND = "ports"
UNEXPECTED_OPEN = "unexpected_open_port"


class PortsSettings(Settings, frozen=True):
    host: Name
    ports: Annotated[list[Port], Meta(min_length=1, max_length=64, description="the ports to try (and only those)")]
    allowed: list[Port] = msgspec.field(default_factory=list)  # ports that may be open

    def sockets(self) -> int:
        return len(set(self.ports))  # tried all at once


METRICS = (
    MetricSpec("port_open", "port_open", "1 if the configured port accepted a TCP connection."),
    MetricSpec("unexpected_open_ports", "unexpected_open_ports", "Open ports outside the host's allowed list."),
)


async def _open(host: str, port: int, deadline: float) -> bool | None:
    try:
        (await connect(host, port, deadline)).close()
    except ProbeFailure as exc:
        return None if exc.reason in (r.DNS, r.TIMEOUT) else False
    return True


SETTINGS = PortsSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: PortsSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    ports = sorted(set(settings.ports))
    # All listed ports at once, each under the probe's one deadline (at most 64 sockets: the settings' cap).
    opened = await asyncio.gather(*(_open(settings.host, p, deadline) for p in ports))
    states = dict(zip(ports, opened, strict=True))
    series = tuple(
        Series("port_open", (("port", str(p)),), 1.0 if s else 0.0) for p, s in states.items() if s is not None
    )
    unexpected = [p for p, s in states.items() if s and p not in settings.allowed]
    values = {"unexpected_open_ports": float(len(unexpected))}
    result_series = series
    if unexpected:
        res = timer.fail(
            target,
            KIND,
            UNEXPECTED_OPEN,
            f"{settings.host}: open outside the allowed list: {', '.join(map(str, unexpected))}",
            values,
        )
        return ProbeResult(
            res.target,
            res.probe,
            res.started_at,
            res.duration,
            False,
            res.reason,
            res.message,
            res.values,
            res.labels,
            result_series,
        )
    return timer.ok(target, KIND, values, series=result_series)


def findings(res: ProbeResult, settings: PortsSettings, thresholds: Thresholds, now: float) -> Sightings:
    """A port that answers and is not in ``allowed``; a port that timed out says nothing, so then
    nothing is evaluated (and nothing resolved) on this pass."""
    s = Sightings()
    answered = {int(dict(x.labels)["port"]): x.value for x in res.series if x.name == "port_open"}
    if set(settings.ports) - set(answered):
        return s
    s.look(res.target, "port_not_allowed")
    for port, is_open in sorted(answered.items()):
        if is_open == 1.0 and port not in set(settings.allowed):
            s.see("port_not_allowed", res.target, f"TCP {port} open", detail=str(port))
    return s
