"""Usage of the zones from RADIUS accounting: FreeRADIUS's stock ``radacct`` table.

Works on the schema FreeRADIUS ships for PostgreSQL, MariaDB/MySQL and SQLite
(``mods-config/sql/main/*/schema.sql``). Rows are attributed to zones by NAS
IP address or by a regex on Called-Station-Id (the AP's MAC and SSID); a
session counts on the local day it started.

No person's identifier is ever read into vigia: distinct devices are counted
inside the database (COUNT(DISTINCT Calling-Station-Id)), and the row-by-row
reads select only the row id, the zone keys (NAS address, the AP's
Called-Station-Id), times and counters. Nothing that names a device or user
is stored, exported or reported.

The reader (SQLAlchemy, probes.usage.radius_reader) is a module of its own: the configuration
and the zone agent import these settings and values without loading a database toolkit.

Two ways to read. ``usage`` counts a period with one range query on the
indexed AcctStartTime (the month, a closed day). The ``rows_*`` methods feed
the incremental read of today (monitor/usage.py): rows past a watermark on
the primary key, and the rows of sessions still open re-read by id, so a
cycle costs the rows that changed, not the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from kernel.model import Duration, Interval, Strict
from probes.settings import Secret

KIND = "radius"


class RadiusSettings(Strict):
    """Where the accounting table is. The URL may carry a password, so it is a secret."""

    url: Secret = Field(description="SQLAlchemy URL of the accounting database, from a file or env")
    table: str = Field(default="radacct", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    timestamps_timezone: str = Field(
        default="UTC", description="zone of naive DATETIME columns (MySQL/SQLite); PostgreSQL's are aware"
    )
    stale_after: Duration = Field(
        default=2 * 3600.0, description="an open session with no update for this long is not counted as active"
    )
    interval: Interval = 60.0
    month_every: Duration = Field(
        default=900.0, description="how often the month's figures (a range over the whole month) are recounted"
    )


@dataclass(frozen=True)
class ZoneMatch:
    zone: str
    nas_ip_addresses: tuple[str, ...] = ()
    called_station_id: str | None = None  # regex


@dataclass(frozen=True)
class Usage:
    sessions: int
    unique_users: int
    session_seconds: float
    input_octets: float
    output_octets: float


@dataclass(frozen=True)
class SessionRow:
    """One accounting row: its row id, zone, times (aware UTC) and counters; nothing naming a person."""

    id: int
    zone: str
    start: datetime
    stop: datetime | None
    updated: datetime | None
    seconds: float
    input_octets: float
    output_octets: float


def count_active(rows: Iterable[SessionRow], now: datetime, stale_after: float) -> dict[str, int]:
    """Open sessions per zone whose last news (update, else start) is within ``stale_after`` of now."""
    fresh = now.timestamp() - stale_after
    out: dict[str, int] = {}
    for r in rows:
        if r.stop is None and (r.updated or r.start).timestamp() >= fresh:
            out[r.zone] = out.get(r.zone, 0) + 1
    return out


def peak_of(rows: Iterable[SessionRow], start: datetime, end: datetime) -> dict[str, int]:
    """Highest number of simultaneous sessions per zone within [start, end), swept over starts and stops."""
    events: dict[str, list[tuple[datetime, int]]] = {}
    for r in rows:
        if r.start >= end or (r.stop is not None and r.stop <= start):
            continue
        ev = events.setdefault(r.zone, [])
        ev.append((max(r.start, start), 1))
        if r.stop is not None:
            ev.append((r.stop, -1))
    out: dict[str, int] = {}
    for z, ev in events.items():
        ev.sort(key=lambda e: (e[0], e[1]))  # a stop at the same instant as a start goes first
        level = peak = 0
        for _, step in ev:
            level += step
            peak = max(peak, level)
        out[z] = peak
    return out
