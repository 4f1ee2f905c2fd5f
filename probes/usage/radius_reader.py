"""The RADIUS accounting reader (probes.usage.radius says what it reads and why): one engine per
accounting database, counts per zone computed inside the database, rows read by id and times."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kernel.redact import database_url
from probes.usage.radius import SessionRow, Usage, ZoneMatch, count_active, peak_of


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
        self.engine = sa.create_engine(database_url(url), pool_pre_ping=True, pool_size=2, max_overflow=1)
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

    # -- row by row: the incremental read ----------------------------------

    def _rows(self) -> sa.Select[Any]:
        """One accounting row as vigia may hold it: row id, zone keys, times and counters.

        Calling-Station-Id and User-Name are never selected: no person's identifier is read."""
        c = self.col
        called = c["calledstationid"] if self._regexes else sa.literal("")
        return sa.select(
            c["radacctid"].label("id"),
            self._zone_expr().label("zone"),
            called.label("called"),
            self._t("acctstarttime").label("began"),
            self._t("acctstoptime").label("ended"),
            self._t("acctupdatetime").label("updated"),
            sa.func.coalesce(c["acctsessiontime"], 0).label("seconds"),
            sa.func.coalesce(c["acctinputoctets"], 0).label("input"),
            sa.func.coalesce(c["acctoutputoctets"], 0).label("output"),
        )

    def _fetch(self, q: sa.Select[Any], highest: int = 0) -> tuple[list[SessionRow], int]:
        """The rows of our zones, and the highest row id seen among all rows read."""
        out: list[SessionRow] = []
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                highest = max(highest, int(r.id))
                z = self._zone_of(r.zone, r.called)
                if z is None or r.began is None:
                    continue
                out.append(
                    SessionRow(
                        int(r.id),
                        z,
                        self._utc(r.began),
                        None if r.ended is None else self._utc(r.ended),
                        None if r.updated is None else self._utc(r.updated),
                        float(r.seconds),
                        float(r.input),
                        float(r.output),
                    )
                )
        return out, highest

    def last_id(self) -> int:
        """The highest row id now: the watermark to read on from."""
        with self.engine.connect() as conn:
            top: Any = conn.execute(sa.select(sa.func.max(self.col["radacctid"]))).scalar()
        return int(top or 0)

    def rows_after(self, watermark: int, limit: int) -> tuple[list[SessionRow], int]:
        """Up to ``limit`` rows past the watermark, oldest first (a range on the primary key), and the
        highest id read, ours or not, which is where the watermark moves."""
        rid = self.col["radacctid"]
        return self._fetch(self._rows().where(rid > watermark).order_by(rid).limit(limit), watermark)

    def rows_by_id(self, ids: Sequence[int], chunk: int = 500) -> list[SessionRow]:
        """The present state of known rows (open sessions get interim updates and stops)."""
        out: list[SessionRow] = []
        for i in range(0, len(ids), chunk):
            out += self._fetch(self._rows().where(self.col["radacctid"].in_(ids[i : i + chunk])))[0]
        return out

    def rows_overlapping(self, start: datetime, end: datetime, upto: int | None = None) -> list[SessionRow]:
        """Sessions that were running at some time in [start, end): begun before its end, not stopped before
        its start (open sessions included, whenever they began)."""
        c = self.col
        lo, hi = self._bound(start), self._bound(end)
        q = self._rows().where(
            self._t("acctstarttime") < hi, sa.or_(c["acctstoptime"].is_(None), self._t("acctstoptime") > lo)
        )
        if upto is not None:
            q = q.where(c["radacctid"] <= upto)
        return self._fetch(q)[0]

    def _utc(self, value: datetime | str | int | float) -> datetime:
        """A time read back, as an aware UTC datetime (SQLite: Unix seconds; MySQL: naive local)."""
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.naive_tz)
        return value.astimezone(UTC)

    def active(self, now: datetime) -> dict[str, int]:
        """Open sessions per zone (no stop yet, updated within ``stale_after``)."""
        return count_active(self.rows_overlapping(now, now), now, self.stale_after)

    def peak_concurrent(self, start: datetime, end: datetime) -> dict[str, int]:
        """Highest number of simultaneous sessions per zone within [start, end)."""
        return peak_of(self.rows_overlapping(start, end), start, end)
