"""Usage of the zones from RADIUS accounting: FreeRADIUS's stock ``radacct`` table.

Works on the schema FreeRADIUS ships for PostgreSQL, MariaDB/MySQL and SQLite
(``mods-config/sql/main/*/schema.sql``). Rows are attributed to zones by NAS
IP address or by a regex on Called-Station-Id (the AP's MAC and SSID); a
session counts on the local day it started.

Only aggregates leave the accounting database: the queries group and count
inside it (COUNT(DISTINCT Calling-Station-Id) for unique devices), so no MAC
address or user name is ever read into vigia, stored, exported or reported.

Cost per cycle is bounded by the rows of the period asked for, not by the
table: every query is a range on AcctStartTime, which the stock schemas
index, and "sessions active now" uses the stock partial index on open
sessions (AcctStopTime IS NULL).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import Field

from probes.settings import Duration, Secret, Settings

KIND = "radius"


class RadiusSettings(Settings):
    """Where the accounting table is. The URL may carry a password, so it is a secret."""

    url: Secret = Field(description="SQLAlchemy URL of the accounting database, from a file or env")
    table: str = Field(default="radacct", pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    timestamps_timezone: str = Field(
        default="UTC", description="zone of naive DATETIME columns (MySQL/SQLite); PostgreSQL's are aware"
    )
    stale_after: Duration = Field(
        default=2 * 3600.0, description="an open session with no update for this long is not counted as active"
    )
    interval: Duration = 60.0
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


def _columns(table: sa.Table) -> dict[str, sa.Column[object]]:
    # The stock schemas differ in case (RadAcctId vs radacctid): look columns up case-blind.
    return {c.name.lower(): c for c in table.columns}


class RadiusReader:
    """Counts per zone from one accounting database. Thread-safe; one engine per reader."""

    def __init__(
        self,
        url: str,
        zones: Sequence[ZoneMatch],
        *,
        table: str = "radacct",
        timestamps_timezone: str = "UTC",
        stale_after: float = 7200.0,
    ) -> None:
        self.engine = sa.create_engine(_driver(url), pool_pre_ping=True, pool_size=2, max_overflow=1)
        self.zones = list(zones)
        self.naive_tz = ZoneInfo(timestamps_timezone)
        self.stale_after = stale_after
        schema, _, name = table.rpartition(".")
        with warnings.catch_warnings():
            # SQLite's stock schema writes int(12) / bigint(20); SQLAlchemy warns and ignores the width.
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            self.table = sa.Table(name, sa.MetaData(schema=schema or None), autoload_with=self.engine)
        self.col = _columns(self.table)
        self.aware = isinstance(self.col["acctstarttime"].type, sa.DateTime) and bool(
            getattr(self.col["acctstarttime"].type, "timezone", False)
        )
        self.sqlite = self.engine.dialect.name == "sqlite"
        self._regexes = [(z.zone, re.compile(z.called_station_id)) for z in self.zones if z.called_station_id]

    def close(self) -> None:
        self.engine.dispose()

    # -- attribution -------------------------------------------------------

    def _nas_text(self) -> sa.ColumnElement[str]:
        nas = self.col["nasipaddress"]
        if self.engine.dialect.name == "postgresql":
            return sa.func.host(nas)  # inet -> '10.0.0.1' (a plain cast would add '/32')
        return sa.cast(nas, sa.String)

    def _zone_expr(self) -> sa.ColumnElement[str]:
        """CASE mapping each row to a zone by NAS IP; Called-Station-Id regexes are applied after grouping."""
        whens = [(self._nas_text().in_(z.nas_ip_addresses), z.zone) for z in self.zones if z.nas_ip_addresses]
        if not whens:
            return sa.literal("")
        return sa.case(*whens, else_=sa.literal(""))

    def _zone_of(self, nas_zone: str, called: str | None) -> str | None:
        if nas_zone:
            return nas_zone
        for zone, rx in self._regexes:
            if called and rx.search(called):
                return zone
        return None

    # -- time --------------------------------------------------------------

    def _bound(self, at: datetime) -> datetime | int:
        if self.sqlite:
            return int(at.timestamp())
        if self.aware:
            return at.astimezone(UTC)
        return at.astimezone(self.naive_tz).replace(tzinfo=None)

    def _t(self, name: str) -> sa.ColumnElement[Any]:
        """A time column, comparable with ``_bound``.

        FreeRADIUS's SQLite queries store Unix seconds in the DATETIME columns, while other tools
        (and SQLite's own datetime()) write UTC text: in SQLite both become Unix seconds.
        """
        col = self.col[name]
        if not self.sqlite:
            return col
        return sa.case(
            (sa.func.typeof(col).in_(("integer", "real")), sa.cast(col, sa.Integer)),
            else_=sa.cast(sa.func.strftime("%s", col), sa.Integer),
        )

    # -- queries -----------------------------------------------------------

    def usage(self, start: datetime, end: datetime) -> dict[str, Usage]:
        """Sessions that started in [start, end), per zone, counted inside the database."""
        c = self.col
        zone = self._zone_expr().label("zone")
        called = c["calledstationid"] if self._regexes else sa.literal("")
        q = (
            sa.select(
                zone,
                called.label("called"),
                sa.func.count().label("sessions"),
                sa.func.count(sa.distinct(c["callingstationid"])).label("users"),
                sa.func.coalesce(sa.func.sum(c["acctsessiontime"]), 0).label("seconds"),
                sa.func.coalesce(sa.func.sum(c["acctinputoctets"]), 0).label("input"),
                sa.func.coalesce(sa.func.sum(c["acctoutputoctets"]), 0).label("output"),
            )
            .where(self._t("acctstarttime") >= self._bound(start), self._t("acctstarttime") < self._bound(end))
            .group_by(zone, called)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        if not self._regexes:
            return {
                r.zone: Usage(int(r.sessions), int(r.users), float(r.seconds), float(r.input), float(r.output))
                for r in rows
                if r.zone
            }
        # Zones found by Called-Station-Id span several groups, and distinct users cannot be added
        # up across groups: count them again, inside the database, for exactly those groups.
        groups: dict[str, list[tuple[str, str]]] = {}
        for r in rows:
            z = self._zone_of(r.zone, r.called)
            if z is not None:
                groups.setdefault(z, []).append((r.zone, r.called))
        out: dict[str, Usage] = {}
        for z, keys in groups.items():
            out[z] = self._usage_of_groups(start, end, keys)
        return out

    def _usage_of_groups(self, start: datetime, end: datetime, keys: list[tuple[str, str]]) -> Usage:
        c = self.col
        nas_zone = self._zone_expr()
        match = sa.or_(*(sa.and_(nas_zone == nz, c["calledstationid"] == cs) for nz, cs in keys))
        q = sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(c["callingstationid"])),
            sa.func.coalesce(sa.func.sum(c["acctsessiontime"]), 0),
            sa.func.coalesce(sa.func.sum(c["acctinputoctets"]), 0),
            sa.func.coalesce(sa.func.sum(c["acctoutputoctets"]), 0),
        ).where(self._t("acctstarttime") >= self._bound(start), self._t("acctstarttime") < self._bound(end), match)
        with self.engine.connect() as conn:
            n, users, seconds, inp, out = (float(v or 0) for v in conn.execute(q).one())
        return Usage(int(n), int(users), seconds, inp, out)

    def active(self, now: datetime) -> dict[str, int]:
        """Open sessions per zone (no stop yet, updated within ``stale_after``)."""
        c = self.col
        fresh = self._bound(datetime.fromtimestamp(now.timestamp() - self.stale_after, UTC))
        zone = self._zone_expr().label("zone")
        called = c["calledstationid"] if self._regexes else sa.literal("")
        last = sa.func.coalesce(self._t("acctupdatetime"), self._t("acctstarttime"))
        q = (
            sa.select(zone, called.label("called"), sa.func.count().label("n"))
            .where(c["acctstoptime"].is_(None), last >= fresh)
            .group_by(zone, called)
        )
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                z = self._zone_of(r.zone, r.called)
                if z is not None:
                    out[z] = out.get(z, 0) + int(r.n)
        return out

    def peak_concurrent(self, start: datetime, end: datetime) -> dict[str, int]:
        """Highest number of simultaneous sessions per zone within [start, end)."""
        c = self.col
        zone = self._zone_expr().label("zone")
        called = c["calledstationid"] if self._regexes else sa.literal("")
        lo, hi = self._bound(start), self._bound(end)
        begin, stop = self._t("acctstarttime").label("began"), self._t("acctstoptime").label("ended")
        q = sa.select(zone, called.label("called"), begin, stop).where(
            begin < hi, sa.or_(c["acctstoptime"].is_(None), stop > lo)
        )
        events: dict[str, list[tuple[datetime, int]]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                z = self._zone_of(r.zone, r.called)
                if z is None:
                    continue
                ev = events.setdefault(z, [])
                ev.append((max(_naive(r.began), _naive(lo)), 1))
                if r.ended is not None:
                    ev.append((_naive(r.ended), -1))
        out: dict[str, int] = {}
        for z, ev in events.items():
            ev.sort(key=lambda e: (e[0], e[1]))  # a stop at the same instant as a start goes first
            level = peak = 0
            for _, step in ev:
                level += step
                peak = max(peak, level)
            out[z] = peak
        return out


def _naive(value: datetime | str | int) -> datetime:
    if isinstance(value, int):  # SQLite: Unix seconds
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _driver(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith(("mysql://", "mariadb://")):
        return "mysql+pymysql://" + url.split("://", 1)[1]
    return url
