"""One month over every vigia instance in the database: each instance's (or HA group's) frozen
month, as its own month close left it, put together with a section per instance. Nothing is
computed again: the roll-up says exactly what each instance's report said."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from domain.incidents import Incident as OperatorIncident
from reports.close import FrozenZone, thaw
from reports.monthly import MonthFigures, ZoneMonth


def combine(bodies: Mapping[str, dict[str, Any]]) -> MonthFigures:
    """The frozen months of several owners as one: every zone tagged with its owner; a zone id two
    owners share (two municipalities' ZD-01) becomes "owner:id" so rows stay apart."""
    months = {owner: thaw(body) for owner, body in sorted(bodies.items())}
    if not months:
        raise ValueError("no instance has closed this month")
    ids = Counter(z.zone.id for m in months.values() for z in m.zones)
    zones: list[ZoneMonth] = []
    notes: list[OperatorIncident] = []
    holding: list[str] = []
    for owner, m in months.items():

        def renamed(zone: str, owner: str = owner) -> str:
            return f"{owner}:{zone}" if ids[zone] > 1 else zone

        for z in m.zones:
            assert isinstance(z.zone, FrozenZone)
            zones.append(replace(z, zone=replace(z.zone, id=renamed(z.zone.id), instance=owner)))
        notes.extend(replace(n, zones=tuple(renamed(zone) for zone in n.zones)) for n in m.notes)
        holding.extend(renamed(zone) for zone in m.agents_holding)
    first = next(iter(months.values()))
    return MonthFigures(first.year, first.month, zones, first.window, first.tz, tuple(notes), (), tuple(holding))
