"""Usage of a zone over a day or a month, as the store keeps it and as the month report shows it."""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.radius import Usage


@dataclass(frozen=True)
class UsageRow:
    zone: str
    period: str  # YYYY-MM-DD or YYYY-MM
    usage: Usage | None
    peak: int | None
    peak_clients: int | None = None


@dataclass
class ZoneUsage:
    """A zone's month of use, from every source that measured it (None: no source did)."""

    unique_users: int | None = None
    sessions: int | None = None
    session_seconds: float | None = None
    input_octets: float | None = None
    output_octets: float | None = None
    peak_concurrent: int | None = None
    peak_clients: int | None = None
    devices: dict[str, int] = field(default_factory=dict)  # operator CSV: smartphone, tablet, pc, other
    sources: list[str] = field(default_factory=list)
