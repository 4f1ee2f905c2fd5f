"""What a probe result says about security, as plain data beside the kind that measured it.

A probe kind that audits something (a certificate, open ports, HTTP headers, a banner, a mail
domain's SPF/DMARC) exports ``findings(res, settings, thresholds, now) -> Sightings``. The
domain (``domain.findings``) owns the catalogue, severities, ids and the open/resolved set; the
kind owns what its own measurements mean, so a new audit kind touches only its module. The
probes layer cannot import the domain, so the thresholds arrive as a ``Thresholds`` protocol that
the domain's ``Policy`` satisfies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from probes.result import ProbeResult

DAY = 86400.0


class Thresholds(Protocol):
    @property
    def expiry_days(self) -> tuple[float, float, float]: ...  # baja, media, alta
    @property
    def min_rsa_bits(self) -> int: ...
    @property
    def min_ec_bits(self) -> int: ...


@dataclass(frozen=True)
class Sighting:
    kind: str
    asset: str
    evidence: str
    detail: str = ""
    severity: str = ""  # "" keeps the catalogue's severity


@dataclass
class Sightings:
    """``looked``: the (asset, kind) pairs this result evaluated, so only those may resolve;
    ``seen``: what it observed (seeing something also looks at it)."""

    looked: set[tuple[str, str]] = field(default_factory=set)
    seen: list[Sighting] = field(default_factory=list)

    def look(self, asset: str, *kinds: str) -> None:
        self.looked.update((asset, k) for k in kinds)

    def see(self, kind: str, asset: str, evidence: str, *, detail: str = "", severity: str = "") -> None:
        self.seen.append(Sighting(kind, asset, evidence, detail, severity))
        self.looked.add((asset, kind))

    def banner(self, res: ProbeResult, key: str, label: str) -> None:
        """A service banner that names its version (HTTP ``Server``, a TCP greeting)."""
        if key not in res.values:
            return
        self.look(res.target, "banner_version")
        if res.values[key] == 1.0:
            self.see("banner_version", res.target, res.labels.get(label, "")[:200])


FindingsRule = Callable[[ProbeResult, Any, Thresholds, float], Sightings]
