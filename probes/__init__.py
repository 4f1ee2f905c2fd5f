"""Probes: one module per kind, each ``async def probe(target, settings, *, deadline) -> ProbeResult``.

They run on the probe engine's loop (probes.engine); ``deadline`` is on the monotonic clock.

``REGISTRY`` maps a kind name to its settings model, function and metric specs, and, for a kind
that audits something, its findings rule (``findings``, see probes.sightings).
Probes never raise for a failing target: failure is a ProbeResult with a reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from probes import dns, host, http, icmp, mail, node, ports, snmp, tcp, tls
from probes.batch import BatchEngine
from probes.result import MetricSpec, ProbeResult
from probes.settings import Settings
from probes.sightings import FindingsRule

ProbeFunction = Callable[..., Awaitable[ProbeResult]]


@dataclass(frozen=True)
class ProbeKind:
    name: str
    settings: type[Settings]
    probe: ProbeFunction
    metrics: tuple[MetricSpec, ...]
    # The factory of a shared engine when a cycle's targets of this kind are probed in one batch
    # (ICMP) rather than one call per target (probes.batch).
    engine: Callable[[], BatchEngine] | None = None
    # What the kind's results say about security (probes.sightings), when it audits something.
    findings: FindingsRule | None = None

    @property
    def batch(self) -> bool:
        return self.engine is not None


def _kind(module: Any, settings: type[Settings], *, engine: Callable[[], BatchEngine] | None = None) -> ProbeKind:
    return ProbeKind(
        module.KIND, settings, module.probe, tuple(module.METRICS), engine, getattr(module, "findings", None)
    )


REGISTRY: dict[str, ProbeKind] = {
    k.name: k
    for k in (
        _kind(icmp, icmp.IcmpSettings, engine=icmp.IcmpEngine),
        _kind(tcp, tcp.TcpSettings),
        _kind(http, http.HttpSettings),
        _kind(dns, dns.DnsSettings),
        _kind(tls, tls.TlsSettings),
        _kind(host, host.HostSettings),
        _kind(node, node.NodeSettings),
        _kind(snmp, snmp.SnmpSettings),
        _kind(ports, ports.PortsSettings),
        _kind(mail, mail.MailSettings),
    )
}

__all__ = ["REGISTRY", "ProbeKind", "ProbeResult"]
