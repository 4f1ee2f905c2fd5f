"""One target as an HA group saw it: several vigia instances (``ha_group``) probe the same zones
from different places, and a zone one of them cannot reach may be fine for the citizens.

- measured while any member measured it (a member's own no_data periods are times it did not);
- down only while every member measuring it said down;
- maintenance while any member said so (the windows are the group's configuration);
- degraded while any member measuring it said so and it was not down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.availability import Period
from domain.intervals import Spans


@dataclass(frozen=True)
class MemberView:
    periods: Sequence[Period]
    covered: Sequence[tuple[float, float]]  # when this member was measuring the target


def _spans(periods: Sequence[Period], kind: str, until: float) -> Spans:
    return Spans.of((p.start, p.end if p.end is not None else until) for p in periods if p.kind == kind)


def combine(views: Sequence[MemberView], until: float) -> MemberView:
    """The group's view up to ``until``; periods still open at ``until`` stay open."""
    if len(views) == 1:
        return views[0]
    measuring = [Spans.of(v.covered) - _spans(v.periods, "no_data", until) for v in views]
    covered = Spans()
    for m in measuring:
        covered = covered | m
    down = covered
    for v, m in zip(views, measuring, strict=True):
        down = down & (_spans(v.periods, "down", until) | (covered - m))
    maintenance, degraded = Spans(), Spans()
    for v, m in zip(views, measuring, strict=True):
        maintenance = maintenance | _spans(v.periods, "maintenance", until)
        degraded = degraded | (_spans(v.periods, "degraded", until) & m)
    degraded = degraded - down
    reasons = {p.kind: p.reason for v in views for p in v.periods if p.reason}
    periods = [
        Period(kind, a, None if b >= until else b, reasons.get(kind, ""))
        for kind, spans in (("down", down), ("maintenance", maintenance), ("degraded", degraded))
        for a, b in spans.items
    ]
    return MemberView(sorted(periods, key=lambda p: p.start), covered.items)
