"""Usage of a zone over a day or a month, as the store keeps it and as the month report shows it."""

from __future__ import annotations

from dataclasses import dataclass, field

from probes.usage.radius import Usage


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

    @property
    def devices_total(self) -> int | None:
        return sum(self.devices.values()) if self.devices else None

    def in_use_by(self) -> list[str]:
        """What saw the zone used this month: "radius" (users or sessions), "trafico" (clients or
        traffic, from SNMP or RADIUS), "operador" (the operator's device counts). A zone is "en uso"
        when any did, whichever it is."""
        seen = []
        if (self.unique_users or 0) > 0 or (self.sessions or 0) > 0:
            seen.append("radius")
        if (self.peak_clients or 0) > 0 or (self.input_octets or 0) + (self.output_octets or 0) > 0:
            seen.append("trafico")
        if (self.devices_total or 0) > 0:
            seen.append("operador")
        return seen
