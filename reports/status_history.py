"""The zones' daily availability for the status page's bars and its 30-day badge, from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.availability import Period, zone_availability
from domain.zones import Zone
from kernel.month import day_bounds
from reports.status_page import BADGE_DAYS, BAR_DAYS, History
from store.reader import Reader


def histories(reader: Reader, zones: Sequence[Zone], now: datetime, tz: ZoneInfo) -> dict[str, History]:
    """Every zone's History up to ``now`` (today so far included), from one read of its periods and
    of when it was measured."""
    today, _ = day_bounds(now, tz)
    first = today - timedelta(days=BAR_DAYS - 1)
    ids = [z.id for z in zones]
    periods = reader.periods(ids, first.timestamp(), now.timestamp())
    coverage = reader.coverage(ids, first.timestamp(), now.timestamp())
    out = {}
    for z in zones:
        days: list[float | None] = []
        month_ago = (now - timedelta(days=BADGE_DAYS)).timestamp()
        for k in range(BAR_DAYS):
            start = (first + timedelta(days=k)).timestamp()
            end = min((first + timedelta(days=k + 1)).timestamp(), now.timestamp())
            got = zone_availability(periods[z.id], coverage[z.id], (start, end), tz, z.hours)
            days.append(got.availability)
        recent = zone_availability(periods[z.id], coverage[z.id], (month_ago, now.timestamp()), tz, z.hours)
        out[z.id] = History(tuple(days), recent.availability)
    return out


Figure = tuple[float, float]  # a day's measured seconds within hours, and its downtime among them


def _figure(periods: list[Period], covered: list[tuple[float, float]], window: tuple[float, float], tz: ZoneInfo,
            zone: Zone) -> Figure:  # fmt: skip
    start, end = window
    if not any(a < end and b > start for a, b in covered):
        return 0.0, 0.0  # never measured that day: nothing measured, nothing down (a new zone, a new store)
    got = zone_availability(periods, covered, window, tz, zone.hours)
    return got.measured_seconds, got.downtime_seconds


def _ratio(measured: float, down: float) -> float | None:
    return (measured - down) / measured if measured > 0 else None  # as domain.availability says it


class DailyHistory:
    """``histories`` kept up to date cheaply: each zone's past days (before today) kept as their
    measured and down seconds, and read again only for a zone whose rows before today changed
    (the store's ``marks``: an agent's spooled batch arriving late, a period closed), whose
    inventory entry changed (a reload), or at midnight; today and the 30-day badge's first,
    partial day are read for every zone each time. The days' figures are those ``histories``
    gives; the 30-day figure is their sum, equal to its whole read but for rounding."""

    def __init__(self) -> None:
        self._past: dict[str, tuple[Zone, tuple[Any, ...], dict[float, Figure]]] = {}
        self.read_again = 0  # zones whose past was read again, in all (what a test reads)

    def read(self, reader: Reader, zones: Sequence[Zone], now: datetime, tz: ZoneInfo) -> dict[str, History]:
        today, _ = day_bounds(now, tz)
        first = today - timedelta(days=BAR_DAYS - 1)
        starts = [(first + timedelta(days=k)).timestamp() for k in range(BAR_DAYS + 1)]
        midnight, t = starts[BAR_DAYS - 1], now.timestamp()
        ids = [z.id for z in zones]
        marks = reader.marks(ids, starts[0], midnight)
        self._past = {z.id: self._past[z.id] for z in zones if z.id in self._past}  # zones a reload removed
        stale = [z for z in zones if (kept := self._past.get(z.id)) is None or kept[0] is not z
                 or kept[1] != marks[z.id] or starts[BAR_DAYS - 2] not in kept[2]]  # fmt: skip
        if stale:
            self._read_past(reader, stale, starts, tz, marks)
        periods, covered = reader.periods(ids, midnight, t), reader.coverage(ids, midnight, t)
        month_ago = (now - timedelta(days=BADGE_DAYS)).timestamp()
        cut = next(s for s in starts if s > month_ago)  # the badge's first whole day starts here
        part_periods, part_covered = reader.periods(ids, month_ago, cut), reader.coverage(ids, month_ago, cut)
        out = {}
        for z in zones:
            past = self._past[z.id][2]
            now_m, now_d = _figure(periods[z.id], covered[z.id], (midnight, min(starts[BAR_DAYS], t)), tz, z)
            days = [_ratio(*past[s]) for s in starts[: BAR_DAYS - 1]]
            m, d = _figure(part_periods[z.id], part_covered[z.id], (month_ago, cut), tz, z)
            for s in starts[starts.index(cut) : BAR_DAYS - 1]:
                m, d = m + past[s][0], d + past[s][1]
            out[z.id] = History((*days, _ratio(now_m, now_d)), _ratio(m + now_m, d + now_d))
        return out

    def _read_past(
        self, reader: Reader, zones: list[Zone], starts: list[float], tz: ZoneInfo, marks: dict[str, tuple[Any, ...]]
    ) -> None:
        ids = [z.id for z in zones]
        midnight = starts[BAR_DAYS - 1]
        periods, covered = reader.periods(ids, starts[0], midnight), reader.coverage(ids, starts[0], midnight)
        for z in zones:
            days = {starts[k]: _figure(periods[z.id], covered[z.id], (starts[k], starts[k + 1]), tz, z)
                    for k in range(BAR_DAYS - 1)}  # fmt: skip
            self._past[z.id] = (z, marks[z.id], days)
        self.read_again += len(zones)
