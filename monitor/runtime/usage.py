"""Zone usage from RADIUS accounting, refreshed on a schedule and kept per day and month.

Today is read incrementally. The first run of a day reads the rows of the
sessions running that day once and notes the highest row id (the watermark);
each later run reads only the rows past the watermark (a primary-key range)
and re-reads by id the sessions still open, whose interim updates and stops
change their counters in place. Today's sessions, time, octets, sessions open
now and peak of simultaneous sessions come from those rows; today's distinct
users are counted by the database over today's range (a distinct count
cannot be kept incrementally without holding device identifiers, which vigia
never does), and only when sessions were added. The month is recounted by
one range query every ``month_every``.

Figures are stored (usage_daily / usage_monthly, source "radius") and kept
for /metrics. Distinct users are counted for each period, never added up
across days.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from domain.usage import UsageRow
from domain.zones import Zone
from kernel.errors import short
from kernel.month import Month, day_bounds

__all__ = ["RadiusSnapshot", "RadiusUsage", "UsageRow", "month_bounds"]
from probes.usage.radius import RadiusSettings, SessionRow, Usage, ZoneMatch, count_active, peak_of
from probes.usage.radius_reader import RadiusReader

log = logging.getLogger(__name__)


def month_bounds(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return Month.of(at, tz).bounds(tz)


@dataclass
class RadiusSnapshot:
    """The last figures read, for /metrics."""

    at: float = 0.0
    day: dict[str, Usage] = field(default_factory=dict)
    month: dict[str, Usage] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    peak_today: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    runs: int = 0
    last_success: float = 0.0
    last_seconds: float = 0.0
    behind: bool = False  # more rows past the watermark than one run reads


class DayTally:
    """One local day's sessions, kept current from the rows added or still open since the last read.

    Rows are keyed by their id, so reading a row twice replaces it: the read past the watermark
    starts ``LOOKBACK`` ids early to catch rows whose transaction committed after a higher id's.
    """

    BATCH = 10_000
    MAX_BATCHES = 20  # per run; a backlog larger than this is read on over the next runs
    LOOKBACK = 200

    def __init__(self, reader: RadiusReader, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.watermark = reader.last_id()
        self.rows: dict[int, SessionRow] = {r.id: r for r in reader.rows_overlapping(start, end, self.watermark)}
        self.users: dict[str, int] | None = None  # None: to be counted
        self.behind = False

    def _ours(self, r: SessionRow) -> bool:
        return r.start < self.end and (r.stop is None or r.stop > self.start)

    def advance(self, reader: RadiusReader) -> None:
        """Read the rows added since the last run and the present state of the sessions still open."""
        known_open = [i for i, r in self.rows.items() if r.stop is None]
        after = max(0, self.watermark - self.LOOKBACK)
        added = False
        self.behind = True
        for _ in range(self.MAX_BATCHES):
            rows, highest = reader.rows_after(after, self.BATCH)
            for r in rows:
                if self._ours(r):
                    added |= r.id not in self.rows and self.start <= r.start
                    self.rows[r.id] = r
            if highest == after:
                self.behind = False
                break
            self.watermark = max(self.watermark, highest)
            after = highest
        fresh = {r.id: r for r in reader.rows_by_id(known_open)}
        for i in known_open:
            if i in fresh:
                self.rows[i] = fresh[i]
            # A row gone from the table (archived, purged) keeps its last figures.
        if added:
            self.users = None

    def usage(self, reader: RadiusReader) -> dict[str, Usage]:
        """Per zone, the sessions that started this day."""
        if self.users is None:
            self.users = {z: u.unique_users for z, u in reader.usage(self.start, self.end).items()}
        sums: dict[str, list[float]] = {}
        for r in self.rows.values():
            if r.start >= self.start:
                e = sums.setdefault(r.zone, [0, 0.0, 0.0, 0.0])
                e[0] += 1
                e[1] += r.seconds
                e[2] += r.input_octets
                e[3] += r.output_octets
        return {z: Usage(int(e[0]), self.users.get(z, 0), e[1], e[2], e[3]) for z, e in sums.items()}

    def active(self, now: datetime, stale_after: float) -> dict[str, int]:
        return count_active(self.rows.values(), now, stale_after)

    def peak(self, until: datetime) -> dict[str, int]:
        return peak_of(self.rows.values(), self.start, min(self.end, until))


class RadiusUsage:
    def __init__(self, settings: RadiusSettings, zones: tuple[Zone, ...], tz: ZoneInfo) -> None:
        self.settings = settings
        self.tz = tz
        self.matches = [
            ZoneMatch(z.id, tuple(z.radius.nas_ip_addresses), z.radius.called_station_id)
            for z in zones if z.radius is not None
        ]  # fmt: skip
        self.zone_ids = [m.zone for m in self.matches]
        self.snapshot = RadiusSnapshot()
        self._month_at = 0.0
        self._month_key = ""
        self._reader: RadiusReader | None = None
        self._tally: DayTally | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def _open(self) -> RadiusReader:
        if self._reader is None:
            s = self.settings
            self._reader = RadiusReader(
                s.url.read(),
                self.matches,
                table=s.table,
                timestamps_timezone=s.timestamps_timezone,
                stale_after=s.stale_after,
            )
        return self._reader

    def run(self, now: datetime | None = None) -> tuple[list[UsageRow], list[UsageRow]] | None:
        """Bring today's and this month's figures up to date; None (logged, counted) when the database fails.

        The daily rows are today's and, on the first run of a day, the final figures of the day before
        (sessions it started may have stopped since its last run)."""
        now = now or datetime.now(UTC)
        t0 = time.monotonic()
        closing: list[UsageRow] = []
        with self._lock:
            self.snapshot.runs += 1
            try:
                reader = self._open()
                d0, d1 = day_bounds(now, self.tz)
                m0, m1 = month_bounds(now, self.tz)
                tally = self._tally
                if tally is not None and tally.start != d0:
                    tally.advance(reader)
                    closing = self._rows_of(tally.start, tally.usage(reader), tally.peak(tally.end))
                    tally = None
                if tally is None:
                    tally = self._tally = DayTally(reader, d0, d1)
                else:
                    tally.advance(reader)
                day = tally.usage(reader)
                # The month is a larger range: recount it every month_every, and whenever the month changes.
                key = m0.strftime("%Y-%m")
                if key != self._month_key or time.monotonic() - self._month_at >= self.settings.month_every:
                    month = reader.usage(m0, m1)
                    self._month_at, self._month_key = time.monotonic(), key
                else:
                    month = self.snapshot.month
                active = tally.active(now, self.settings.stale_after)
                peak = tally.peak(now)
            except Exception as exc:  # the accounting database is someone else's: its trouble is data
                self.snapshot.errors += 1
                log.error("RADIUS accounting: %s", short(exc))
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                return None
            snap = self.snapshot
            snap.day, snap.month, snap.active, snap.peak_today = day, month, active, peak
            snap.at = now.timestamp()
            snap.last_success = time.time()
            snap.last_seconds = time.monotonic() - t0
            snap.behind = tally.behind
        daily = closing + self._rows_of(d0, day, peak)
        monthly = [UsageRow(z, m0.strftime("%Y-%m"), month.get(z), None) for z in self.zone_ids]
        return daily, monthly

    def _rows_of(self, day_start: datetime, usage: dict[str, Usage], peak: dict[str, int]) -> list[UsageRow]:
        period = day_start.astimezone(self.tz).strftime("%Y-%m-%d")
        return [UsageRow(z, period, usage.get(z), peak.get(z, 0)) for z in self.zone_ids]
