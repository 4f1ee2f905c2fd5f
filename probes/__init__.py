"""Probes: one module per kind, each ``async def probe(target, settings, *, deadline) -> ProbeResult``.

They run on the probe engine's loop (probes.engine); ``deadline`` is on the monotonic clock.

``REGISTRY`` maps a kind name to its settings model, function and metric specs, and, for a kind
that audits something, its findings rule (``findings``, see probes.sightings). A kind's module is
imported the first time the kind is asked for: a zone agent that runs four kinds does not carry the
other six (their models, their libraries) in a box counted in megabytes.
Probes never raise for a failing target: failure is a ProbeResult with a reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass

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


KINDS = ("icmp", "tcp", "http", "dns", "tls", "host", "node", "snmp", "ports", "mail")


class Registry(MutableMapping[str, ProbeKind]):
    """The probe kinds by name, each built from its module (``probes.<name>``: KIND, SETTINGS,
    probe, METRICS, and ENGINE or findings where it has them) when first asked for."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = list(names)
        self._kinds: dict[str, ProbeKind] = {}

    def __getitem__(self, name: str) -> ProbeKind:
        kind = self._kinds.get(name)
        if kind is None:
            if name not in self._names:
                raise KeyError(name)
            module = importlib.import_module(f"probes.{name}")
            kind = ProbeKind(module.KIND, module.SETTINGS, module.probe, tuple(module.METRICS),
                             getattr(module, "ENGINE", None), getattr(module, "findings", None))  # fmt: skip
            self._kinds[name] = kind  # two threads asking at once build the same kind: either is kept
        return kind

    def __setitem__(self, name: str, kind: ProbeKind) -> None:
        if name not in self._names:
            self._names.append(name)
        self._kinds[name] = kind

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._kinds.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


REGISTRY = Registry(KINDS)

__all__ = ["REGISTRY", "ProbeKind", "ProbeResult"]
