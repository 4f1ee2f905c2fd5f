"""Usage of a zone over a day or a month, as the store keeps it."""

from __future__ import annotations

from dataclasses import dataclass

from probes.radius import Usage


@dataclass(frozen=True)
class UsageRow:
    zone: str
    period: str  # YYYY-MM-DD or YYYY-MM
    usage: Usage | None
    peak: int | None
    peak_clients: int | None = None
