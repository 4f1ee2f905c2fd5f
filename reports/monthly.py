"""The month's figures per zone and overall: what the monthly report, the open data and any
metric show. Every figure is computed here, from stored data, once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from domain.availability import Availability, Period, in_hours, month_window, zone_availability
from domain.corrections import ANNOTATE, Correction, as_note, late, layers_of, overlay
from domain.incidents import Incident as OperatorIncident
from domain.incidents import cause_of, covering
from domain.schedule import Schedule, WeekPlan
from domain.usage import ZoneUsage
from domain.windows import Maintenance, Planned, StoredWindow, evidence, planned_in
from kernel.month import Month
from store.reader import Reader


class ZoneInfoLike(Protocol):
    """The inventory fields a report needs (domain.zones.Zone has them)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def barrio(self) -> str: ...
    @property
    def ucg(self) -> int | None: ...
    @property
    def localidad(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def plan(self) -> WeekPlan: ...
    @property
    def sla_target(self) -> float | None: ...


class ScheduledZone(ZoneInfoLike, Protocol):
    """A zone whose month is computed from the store: its schedule with the calendar it follows."""

    @property
    def hours(self) -> Schedule: ...


# An outage wholly outside the zone's operating hours, as the month's figures list it: it counts
# for nothing, and is listed apart from the unplanned ones.
OUTSIDE_HOURS = "outside_hours"
# How a period counts in the incident list; a down period is unplanned unless someone classifies it.
CLASSIFICATION = {
    "maintenance": "planned",
    "down": "unplanned",
    "no_data": "monitoring fault",
    "excluded": "excluded",
    OUTSIDE_HOURS: "outside hours",
}


@dataclass(frozen=True)
class Incident:
    """A period worth listing in the report; ``note`` is the operator's incident linked to it (the
    one sharing most of its time), whose cause then wins over the reason code's class."""

    zone: str
    start: datetime
    end: datetime | None
    seconds: float
    classification: str
    reason: str
    cause: str
    note: OperatorIncident | None = None


@dataclass(frozen=True)
class Accounting:
    """Outages within operating hours, in a zone or over all: how many, the longest, the mean time
    to repair (over those that ended) and between failures (measured time up over the outages)."""

    outages: int
    longest_seconds: float
    mttr_seconds: float | None
    mtbf_seconds: float | None
    outside_hours: int


@dataclass(frozen=True)
class CauseTotal:
    cause: str
    periods: int
    seconds: float


@dataclass(frozen=True)
class CalendarDay:
    """A holiday or a closed day of the month, as the report lists it."""

    day: str  # ISO date
    kind: str  # holiday | closed
    name: str  # the holiday's name or the closure's reason
    applies_to: tuple[str, ...] = ()  # zones and targets a closed day names (none: every weekly schedule)


@dataclass(frozen=True)
class ZoneMonth:
    zone: ZoneInfoLike
    availability: Availability
    usage: ZoneUsage
    previous_users: int | None
    periods: tuple[Period, ...] = ()
    # Time within hours the centre found the zone dark while its agent found it working: the
    # monitoring path's, not the zone's (Reader.path_seconds).
    path_seconds: float = 0.0

    @property
    def accounting(self) -> Accounting:
        a = self.availability
        outside = sum(1 for p in self.periods if p.kind == OUTSIDE_HOURS)
        return Accounting(a.incidents, a.longest_outage_seconds, a.mttr_seconds, a.mtbf_seconds, outside)

    @property
    def traffic_gb(self) -> float | None:
        u = self.usage
        if u.input_octets is None and u.output_octets is None:
            return None
        return ((u.input_octets or 0) + (u.output_octets or 0)) / 1e9

    @property
    def average_session_minutes(self) -> float | None:
        u = self.usage
        if not u.sessions or u.session_seconds is None:
            return None
        return u.session_seconds / u.sessions / 60

    @property
    def users_change(self) -> float | None:
        if self.usage.unique_users is None or not self.previous_users:
            return None
        return self.usage.unique_users / self.previous_users - 1


@dataclass(frozen=True)
class MonthFigures:
    year: int
    month: int
    zones: list[ZoneMonth]
    window: tuple[float, float] = (0.0, 0.0)
    tz: str = "America/Bogota"
    notes: tuple[OperatorIncident, ...] = ()  # the operators' incidents overlapping the month
    calendar: tuple[CalendarDay, ...] = ()  # the month's holidays and closed days
    # Zones whose agent may still have held results of the month when these figures were made
    # (domain.agents.holds_data): a closed month stays frozen; `--refreeze` takes them in.
    agents_holding: tuple[str, ...] = ()
    # Corrections after the fact (domain.corrections): exclusions and annotations, and maintenance
    # windows added after their time began; each with who, when and why, for the report to list.
    corrections: tuple[Correction, ...] = ()
    late_windows: tuple[StoredWindow, ...] = ()
    # Every maintenance window's occurrences in the month: the evidence of each planned period.
    planned: tuple[Planned, ...] = ()

    def planned_periods(self) -> list[tuple[Incident, Planned | None]]:
        """Each planned period with the window that made it planned (None: none found, a window
        since removed from the configuration)."""
        start, end = self.window
        return [
            (
                i,
                evidence(
                    self.planned, i.zone, max(i.start.timestamp(), start), min(i.start.timestamp() + i.seconds, end)
                ),
            )
            for i in self.incidents()
            if i.classification == "planned"
        ]

    def incidents(self, classes: dict[str, str] | None = None) -> list[Incident]:
        """Periods worth listing; ``classes`` maps an outage reason code to its class (power, isp, ...).
        Only an outage (a down period) is linked to an operator's incident."""
        tz = ZoneInfo(self.tz)
        start, end = self.window
        out = []
        for z in self.zones:
            for p in z.periods:
                if p.kind not in CLASSIFICATION:
                    continue
                a, b = max(p.start, start), min(p.end if p.end is not None else end, end)
                if b <= a:
                    continue
                down = p.kind == "down"
                klass = (classes or {}).get(p.reason, "unplanned") if down else CLASSIFICATION[p.kind]
                note = covering(self.notes, z.zone.id, a, b) if down else None
                out.append(
                    Incident(
                        z.zone.id,
                        datetime.fromtimestamp(p.start, tz),
                        None if p.end is None else datetime.fromtimestamp(p.end, tz),
                        b - a,
                        # power, isp: causes of an unplanned outage (the cause column says which)
                        klass if klass in CLASSIFICATION.values() else "unplanned",
                        p.reason,
                        cause_of(note, klass, p.reason),
                        note,
                    )
                )
        return sorted(out, key=lambda i: (i.start, i.zone))

    def causes(self, classes: dict[str, str] | None = None) -> list[CauseTotal]:
        """The listed periods by cause, the longest total first."""
        totals: dict[str, list[float]] = {}
        for i in self.incidents(classes):
            totals.setdefault(i.cause, []).append(i.seconds)
        rows = [CauseTotal(cause, len(s), sum(s)) for cause, s in totals.items()]
        return sorted(rows, key=lambda r: (-r.seconds, r.cause))

    @property
    def accounting(self) -> Accounting:
        """The zones' outage accounting together (zone.accounting, summed and weighted)."""
        each = [z.availability for z in self.zones]
        outages, repaired = sum(a.incidents for a in each), sum(a.repaired for a in each)
        repair = sum((a.mttr_seconds or 0.0) * a.repaired for a in each)
        up = sum(a.measured_seconds - a.downtime_seconds for a in each)
        return Accounting(
            outages,
            max((a.longest_outage_seconds for a in each), default=0.0),
            repair / repaired if repaired else None,
            up / outages if outages else None,
            sum(z.accounting.outside_hours for z in self.zones),
        )

    @property
    def operating(self) -> int:
        """Zones that were measured and available at some point of the month."""
        return sum(1 for z in self.zones if z.availability.availability and z.availability.measured_seconds > 0)

    @property
    def availability(self) -> float | None:
        measured = sum(z.availability.measured_seconds for z in self.zones)
        down = sum(z.availability.downtime_seconds for z in self.zones)
        return (measured - down) / measured if measured else None

    @property
    def in_use(self) -> dict[str, int]:
        """Zones some usage source saw used ("zones": how many), and how many each source saw."""
        out = {"zones": 0}
        for z in self.zones:
            seen = z.usage.in_use_by()
            out["zones"] += bool(seen)
            for source in seen:
                out[source] = out.get(source, 0) + 1
        return out

    @property
    def devices(self) -> int | None:
        """Devices the operator reported over all zones (None: no report this month)."""
        counts = [z.usage.devices_total for z in self.zones if z.usage.devices_total is not None]
        return sum(counts) if counts else None

    def total(self, attr: str) -> float | None:
        values = [getattr(z.usage, attr) for z in self.zones if getattr(z.usage, attr) is not None]
        return sum(values) if values else None


def month_figures(
    reader: Reader,
    zones: Sequence[ScheduledZone],
    year: int,
    month: int,
    tz: ZoneInfo,
    now: float,
    configured: Sequence[Maintenance] = (),
) -> MonthFigures:
    """``configured``: the configuration's maintenance windows, named as evidence of planned time."""
    window = month_window(year, month, tz, now)
    measured = reader.periods([z.id for z in zones], *window)
    windows = reader.windows_between(*window)
    corrections = tuple(reader.corrections_between(*window))
    layers = layers_of([(w.name, frozenset(w.zones + w.targets), w.start, w.end) for w in windows], corrections)
    periods = {z: overlay(z, ps, layers, window[1]) for z, ps in measured.items()}
    usage = reader.usage(year, month)
    before = Month(year, month).previous()
    prev_year, prev_month = before.year, before.month
    previous = reader.usage(prev_year, prev_month)
    rows = []
    coverage = reader.coverage([z.id for z in zones], *window)
    path = reader.path_seconds([z.id for z in zones], *window)
    for z in zones:
        # A zone counts as measured only while vigia stored its cycles: a zone never probed is no data.
        covered = coverage[z.id]
        avail = zone_availability(periods[z.id], covered, window, tz, z.hours, z.sla_target)
        operating = z.hours.spans(*window, tz)
        listed = [p if p.kind != "down" or in_hours(p, operating, window[1]) else Period(OUTSIDE_HOURS, p.start,
                  p.end, p.reason) for p in periods[z.id]]  # fmt: skip
        prev = previous.get(z.id)
        rows.append(
            ZoneMonth(
                z,
                avail,
                usage.get(z.id, ZoneUsage()),
                prev.unique_users if prev else None,
                tuple(listed),
                path[z.id],
            )
        )
    notes = tuple(reader.incidents_between(*window)) + tuple(as_note(c) for c in corrections if c.action == ANNOTATE)
    ids = {z.id for z in zones}
    holding = tuple(z for z in reader.agents_holding(window[1]) if z in ids)
    days = calendar_days(zones, Month(year, month), tz)
    late_windows = tuple(w for w in windows if late(w.start, w.created_at))
    planned = tuple(planned_in(configured, windows, *window))
    return MonthFigures(year, month, rows, window, tz.key, notes, days, holding, corrections, late_windows, planned)


def calendar_days(zones: Sequence[ScheduledZone], month: Month, tz: ZoneInfo) -> tuple[CalendarDay, ...]:
    """The holidays and closed days of the month, from the calendar the zones' schedules follow."""
    if not zones:
        return ()
    calendar = zones[0].hours.calendar
    first, after = month.bounds(tz)
    last = after.date().fromordinal(after.date().toordinal() - 1)
    out = [CalendarDay(d.isoformat(), "holiday", name) for d, name in calendar.holidays_between(first.date(), last)]
    for c in calendar.closed:
        if first.date() <= c.day <= last:
            out.append(CalendarDay(c.day.isoformat(), "closed", c.reason, tuple(sorted(c.zones | c.targets))))
    return tuple(sorted(out, key=lambda d: (d.day, d.kind)))
