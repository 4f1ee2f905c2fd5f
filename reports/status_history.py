"""The zones' daily availability for the status page's bars and its 30-day badge, from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.availability import zone_availability
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
