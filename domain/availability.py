"""Zone availability for a calendar month: the one computation behind report, CSV and metrics.

Definitions (the report's methodology section states them in words):

- window W: the month in the configured timezone, up to "now" for the current month;
- operating time O: W within the zone's schedule (domain.schedule: weekly ranges, holidays, closed days);
- maintenance M: periods in maintenance windows, excluded from the SLA;
- no data N: time vigia could not measure the zone (no_data periods, and times no vigia run
  covered), shown as data coverage, never as downtime;
- measured time T = O - M - N; downtime D = T within "down" periods;
- availability = (T - D) / T; data coverage = T / (O - M);
- incidents: down periods that touch O; MTTR: their mean length within W; longest outage.
Degraded time counts as available (the zone worked) and is reported on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from domain.intervals import Spans
from domain.schedule import Schedule
from kernel.month import Month


@dataclass(frozen=True)
class Period:
    kind: str  # down | degraded | maintenance | no_data
    start: float
    end: float | None  # None: still open
    reason: str = ""


def month_window(year: int, month: int, tz: ZoneInfo, now: float) -> tuple[float, float]:
    first, after = Month(year, month).bounds(tz)
    start, end = first.timestamp(), after.timestamp()
    return start, min(end, max(start, now))


@dataclass(frozen=True)
class Availability:
    operating_seconds: float
    maintenance_seconds: float
    no_data_seconds: float
    measured_seconds: float
    downtime_seconds: float
    degraded_seconds: float
    availability: float | None  # None when nothing was measured
    coverage: float | None
    incidents: int
    mttr_seconds: float | None
    longest_outage_seconds: float
    sla_target: float | None
    # Mean time between failures within operating hours: the measured time up over the outages
    # (None without an outage); ``repaired``: the outages that ended, which the MTTR averages.
    # Defaults for snapshots frozen before they were computed.
    mtbf_seconds: float | None = None
    repaired: int = 0

    @property
    def sla_met(self) -> bool | None:
        if self.sla_target is None or self.availability is None:
            return None
        return self.availability >= self.sla_target


def _spans(periods: Iterable[Period], kind: str, until: float) -> Spans:
    return Spans.of((p.start, p.end if p.end is not None else until) for p in periods if p.kind == kind)


def zone_availability(
    periods: Iterable[Period],
    covered: Iterable[tuple[float, float]],
    window: tuple[float, float],
    tz: ZoneInfo,
    hours: Schedule | None,
    sla_target: float | None = None,
) -> Availability:
    """``covered``: the times some vigia run was measuring (daemon runs); ``hours``: None for always."""
    periods = list(periods)
    start, end = window
    w = Spans.of([window])
    operating = (hours or Schedule.always()).spans(start, end, tz)
    maintenance = _spans(periods, "maintenance", end) & operating
    unmeasured = (w - Spans.of(covered)) | _spans(periods, "no_data", end)
    no_data = (operating - maintenance) & unmeasured
    measured = operating - maintenance - no_data
    down = _spans(periods, "down", end)
    downtime = measured & down
    degraded = measured & _spans(periods, "degraded", end)
    touching = [p for p in periods if p.kind == "down" and in_hours(p, operating, end)]
    lengths = [(Spans.of([(p.start, p.end if p.end is not None else end)]) & w).seconds for p in touching]
    closed = [n for p, n in zip(touching, lengths, strict=True) if p.end is not None]
    m = measured.seconds
    usable = (operating - maintenance).seconds
    return Availability(
        operating_seconds=operating.seconds,
        maintenance_seconds=maintenance.seconds,
        no_data_seconds=no_data.seconds,
        measured_seconds=m,
        downtime_seconds=downtime.seconds,
        degraded_seconds=degraded.seconds,
        availability=(m - downtime.seconds) / m if m > 0 else None,
        coverage=m / usable if usable > 0 else None,
        incidents=len(touching),
        mttr_seconds=sum(closed) / len(closed) if closed else None,
        longest_outage_seconds=max(lengths, default=0.0),
        sla_target=sla_target,
        mtbf_seconds=(m - downtime.seconds) / len(touching) if touching else None,
        repaired=len(closed),
    )


def in_hours(period: Period, operating: Spans, until: float) -> bool:
    """Whether a period touches the operating hours: an outage wholly outside them counts for
    nothing and is listed apart, never as unplanned downtime."""
    return (Spans.of([(period.start, period.end if period.end is not None else until)]) & operating).seconds > 0
