"""Zone usage from RADIUS accounting, refreshed on a schedule and kept per day and month.

Each run asks the accounting database for today's and this month's figures
(local calendar, configured timezone), the sessions open now and today's peak
of simultaneous sessions; it stores them (usage_daily / usage_monthly, source
"radius") and keeps them for /metrics. Distinct users are counted by the
database for each period, never added up across days.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitor.zones import Zone, day_bounds

__all__ = ["RadiusSnapshot", "RadiusUsage", "UsageRow", "day_bounds", "month_bounds"]
from probes.radius import RadiusReader, RadiusSettings, Usage, ZoneMatch

log = logging.getLogger(__name__)


def month_bounds(at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    local = at.astimezone(tz)
    start = datetime(local.year, local.month, 1, tzinfo=tz)
    end = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=tz)
    return start, end


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


@dataclass(frozen=True)
class UsageRow:
    zone: str
    period: str  # YYYY-MM-DD or YYYY-MM
    usage: Usage | None
    peak: int | None
    peak_clients: int | None = None


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
        """Read today's and this month's figures; None (logged, counted) when the database fails."""
        now = now or datetime.now(UTC)
        t0 = time.monotonic()
        with self._lock:
            self.snapshot.runs += 1
            try:
                reader = self._open()
                d0, d1 = day_bounds(now, self.tz)
                m0, m1 = month_bounds(now, self.tz)
                day = reader.usage(d0, d1)
                # The month is a larger range: recount it every month_every, and whenever the month changes.
                key = m0.strftime("%Y-%m")
                if key != self._month_key or time.monotonic() - self._month_at >= self.settings.month_every:
                    month = reader.usage(m0, m1)
                    self._month_at, self._month_key = time.monotonic(), key
                else:
                    month = self.snapshot.month
                active = reader.active(now)
                peak = reader.peak_concurrent(d0, min(d1, now))
            except Exception as exc:  # the accounting database is someone else's: its trouble is data
                self.snapshot.errors += 1
                log.error("RADIUS accounting: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:300])
                if self._reader is not None:
                    self._reader.close()
                    self._reader = None
                return None
            snap = self.snapshot
            snap.day, snap.month, snap.active, snap.peak_today = day, month, active, peak
            snap.at = now.timestamp()
            snap.last_success = time.time()
            snap.last_seconds = time.monotonic() - t0
        local = now.astimezone(self.tz)
        daily = [UsageRow(z, local.strftime("%Y-%m-%d"), day.get(z), peak.get(z, 0)) for z in self.zone_ids]
        monthly = [UsageRow(z, local.strftime("%Y-%m"), month.get(z), None) for z in self.zone_ids]
        return daily, monthly
