"""History store (SQLAlchemy Core): SQLite by default, PostgreSQL for several instances.

Times are stored as Unix seconds (UTC, float): unambiguous, comparable in every
engine, and what Prometheus uses too. Each row carries the vigia instance name,
so several instances can share one PostgreSQL database.

Schema versions are numbered; ``migrate()`` brings an older database up to
date on start and refuses a newer one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from domain.findings import Finding
from domain.state import Transition
from kernel.errors import StoreError, short
from kernel.redact import database_url
from probes.operator_csv import OperatorMonth

if TYPE_CHECKING:
    from domain.usage import UsageRow
from probes.result import ProbeResult

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4

metadata = sa.MetaData()

schema_version = sa.Table(
    "vigia_schema",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated_at", sa.Float, nullable=False),
)

results = sa.Table(
    "probe_results",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("probe", sa.String(32), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
    sa.Column("message", sa.Text, nullable=False, default=""),
    # {"values": {...}, "labels": {...}, "series": [[name, {labels}, value], ...]}
    sa.Column("data", sa.Text, nullable=False, default="{}"),
    sa.Index("ix_probe_results_target_ts", "instance", "target", "ts"),
    sa.Index("ix_probe_results_ts", "ts"),
)

outages = sa.Table(
    "outages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # down | maintenance
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_outages_target_start", "instance", "target", "started_at"),
    sa.Index("ix_outages_end", "ended_at"),
)

target_state = sa.Table(
    "target_state",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per daemon run, with a heartbeat: gaps between runs are "no data", not downtime.
daemon_runs = sa.Table(
    "daemon_runs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float, nullable=True),
)

hourly = sa.Table(
    "hourly_results",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("hour", sa.Float, primary_key=True),
    sa.Column("probe", sa.String(32), nullable=False),
    sa.Column("samples", sa.Integer, nullable=False),
    sa.Column("successes", sa.Integer, nullable=False),
    sa.Column("duration_sum", sa.Float, nullable=False),
    sa.Column("duration_max", sa.Float, nullable=False),
)

hourly_values = sa.Table(
    "hourly_values",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("hour", sa.Float, primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("labels", sa.String(400), primary_key=True),  # JSON, sorted keys; "" for plain values
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("sum", sa.Float, nullable=False),
    sa.Column("min", sa.Float, nullable=False),
    sa.Column("max", sa.Float, nullable=False),
    sa.Column("last", sa.Float, nullable=False),
)

meta = sa.Table(
    "vigia_meta",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# --- schema version 2: the zones -------------------------------------------

zone_samples_t = sa.Table(
    "zone_samples", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("zone", sa.String(50), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("interval", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("in_hours", sa.Boolean, nullable=False),
    sa.Column("loss", sa.Float, nullable=True),
    sa.Column("rtt", sa.Float, nullable=True),
    sa.Column("checks", sa.Text, nullable=False),
    sa.Index("ix_zone_samples_zone_ts", "instance", "zone", "ts"),
)  # fmt: skip


def _usage_columns() -> list[sa.Column[Any]]:
    """The figures a usage source gives for a zone and a period (NULL where it gives none)."""
    return [
        sa.Column("source", sa.String(16), primary_key=True),  # radius | snmp
        sa.Column("unique_users", sa.Integer, nullable=True),
        sa.Column("sessions", sa.Integer, nullable=True),
        sa.Column("session_seconds", sa.Float, nullable=True),
        sa.Column("input_octets", sa.Float, nullable=True),
        sa.Column("output_octets", sa.Float, nullable=True),
        sa.Column("peak_concurrent", sa.Integer, nullable=True),
        sa.Column("peak_clients", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    ]


# Usage per zone and local calendar day / month, as computed by each source. Distinct counts
# (unique users) cannot be summed across days, so the month is stored as the source computed it.
usage_daily = sa.Table(
    "usage_daily", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, configured timezone
    *_usage_columns(),
)  # fmt: skip

usage_monthly = sa.Table(
    "usage_monthly", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM
    *_usage_columns(),
)  # fmt: skip

operator_usage = sa.Table(
    "operator_usage", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("smartphone", sa.Integer, nullable=False),
    sa.Column("tablet", sa.Integer, nullable=False),
    sa.Column("pc", sa.Integer, nullable=False),
    sa.Column("other", sa.Integer, nullable=False),
    sa.Column("source_file", sa.String(400), nullable=False),
    sa.Column("source_line", sa.Integer, nullable=False),
    sa.Column("imported_at", sa.Float, nullable=False),
)  # fmt: skip

V2_TABLES = (zone_samples_t, usage_daily, usage_monthly, operator_usage)

# --- schema version 3: month snapshots --------------------------------------

# A closed month's figures, frozen: retention never touches this table.
month_snapshots = sa.Table(
    "month_snapshots", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),  # zones | datacenter | security
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)  # fmt: skip
V3_TABLES = (month_snapshots,)

# --- schema version 4: security findings ------------------------------------

# One row per finding (kind, asset, detail), kept for ever: its whole life is the audit trail.
findings_t = sa.Table(
    "security_findings", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("asset", sa.String(255), nullable=False),
    sa.Column("detail", sa.String(100), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("control", sa.String(16), nullable=False),
    sa.Column("mspi", sa.String(100), nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("resolved_at", sa.Float, nullable=True),
    sa.Column("reopened", sa.Integer, nullable=False, default=0),
)  # fmt: skip
V4_TABLES = (findings_t,)


def _v1_to_v2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V2_TABLES))


def _v2_to_v3(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V3_TABLES))


def _v3_to_v4(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V4_TABLES))


# Ordered migrations: MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def engine_for(url: str) -> Engine:
    """An engine with the settings vigia relies on for each backend."""
    url = database_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=2)


def _encode(result: ProbeResult) -> str:
    data: dict[str, Any] = {}
    if result.values:
        data["values"] = result.values
    if result.labels:
        data["labels"] = result.labels
    if result.series:
        data["series"] = [[s.name, dict(s.labels), s.value] for s in result.series]
    return json.dumps(data, separators=(",", ":"), allow_nan=False, default=_finite)


def _finite(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {value!r}")


def _clean(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if math.isfinite(v)}


# States that are periods worth a row of their own (targets: down, maintenance; zones: all four).
PERIOD_KINDS = frozenset({"down", "maintenance", "degraded", "no_data"})


@dataclass(frozen=True)
class StateChange:
    """A target or zone changing state; ``start`` is when the new state really began."""

    subject: str
    old: str
    new: str
    at: float
    start: float
    reason: str = ""
    message: str = ""

    @classmethod
    def of(cls, t: Transition) -> StateChange:
        at = t.at.timestamp()
        start = t.outage_start.timestamp() if t.outage_start else at
        return cls(t.target, t.old.value, t.new.value, at, start, t.reason, t.message)


@dataclass(frozen=True)
class ZoneSample:
    """One zone in one cycle: what its checks said, for exact availability and traceability."""

    zone: str
    ts: float
    interval: float
    status: str
    verdict: str
    in_hours: bool
    loss: float | None
    rtt: float | None
    checks: str  # JSON {"gateway": true, ...}


@dataclass(frozen=True)
class StoredState:
    state: str
    since: float | None


@dataclass(frozen=True)
class OpenOutage:
    target: str
    kind: str
    started_at: float
    reason: str


class Store:
    """All reads and writes of vigia's history. Writes come from one writer thread."""

    def __init__(self, url: str, instance: str) -> None:
        self.url = url
        self.instance = instance
        try:
            self.engine = engine_for(url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open the store: {type(exc).__name__}: {exc}") from exc
        self.run_id: int | None = None
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        self.file = os.path.abspath(database) if database and database != ":memory:" else None
        # A connection of our own keeps the file's inode open: if someone deletes the file, the
        # history can still be copied out of it (see check_file).
        self._anchor: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    def _hold_file(self) -> None:
        if self.file is None:
            return
        if self._anchor is not None:
            self._anchor.close()
        self._anchor = sqlite3.connect(self.file, check_same_thread=False)
        # A first read opens the WAL and maps its index: from then on the anchor reaches the newest
        # rows through its own descriptors, even once every file of the store is unlinked. It holds
        # no transaction, so checkpoints go on as usual.
        self._anchor.execute("SELECT count(*) FROM sqlite_master").fetchone()
        st = os.stat(self.file)
        self._identity = (st.st_dev, st.st_ino)

    def check_file(self) -> str | None:
        """For a SQLite store, notice the file vanishing or being replaced; None when it is as it was.

        Vanished: the history is copied from the still-open file into a new one at the same path
        (SQLite's backup API), so nothing is lost. Replaced (another file moved in, a restored
        backup): vigia switches to it and brings its schema up to date. Either way the engine's
        pooled connections, which point at the old inode, are dropped.
        """
        if self.file is None or self._identity is None:
            return None
        try:
            st = os.stat(self.file)
            now: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            now = None
        if now == self._identity:
            return None
        self.engine.dispose()
        if now is None:
            for suffix in ("-wal", "-shm"):  # they belong to the old file: never replay them into the new
                stale = self.file + suffix
                if os.path.exists(stale):
                    os.replace(stale, f"{stale}.orphan-{time.time_ns()}")
            assert self._anchor is not None
            fresh = sqlite3.connect(self.file)
            try:
                self._anchor.backup(fresh)
            finally:
                fresh.close()
            what = "vanished"
        else:
            what = "replaced"
        self._hold_file()
        self.migrate()
        return what

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None

    # -- schema ----------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the version now in place."""
        version = self._migrate()
        if self._anchor is None:
            self._hold_file()
        return version

    def _migrate(self) -> int:
        try:
            with self.engine.begin() as conn:
                inspector = sa.inspect(conn)
                if not inspector.has_table(schema_version.name):
                    metadata.create_all(conn)
                    conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION, migrated_at=time.time()))
                    return SCHEMA_VERSION
                version = conn.execute(sa.select(schema_version.c.version).where(schema_version.c.id == 1)).scalar_one()
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the database schema is version {version}, newer than this vigia understands "
                        f"({SCHEMA_VERSION}): upgrade vigia or point it at another database"
                    )
                while version < SCHEMA_VERSION:
                    log.info("migrating store schema from version %d to %d", version, version + 1)
                    MIGRATIONS[version](conn)
                    version += 1
                    conn.execute(
                        schema_version.update()
                        .where(schema_version.c.id == 1)
                        .values(version=version, migrated_at=time.time())
                    )
                return int(version)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot prepare the store schema: {short(exc)}") from exc

    def reachable_schema(self) -> int | None:
        """Connect and read the schema version (None for an empty database); StoreError if unreachable."""
        try:
            with self.engine.connect() as conn:
                if not sa.inspect(conn).has_table(schema_version.name):
                    return None
                return int(conn.execute(sa.select(schema_version.c.version)).scalar_one())
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot reach the store: {short(exc)}") from exc

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(schema_version.c.version)).scalar_one())

    # -- writes (writer thread) -----------------------------------------

    def start_run(self, host: str, version: str, now: float) -> None:
        with self.engine.begin() as conn:
            res = conn.execute(
                daemon_runs.insert().values(
                    instance=self.instance, host=host, version=version, started_at=now, last_seen=now
                )
            )
            self.run_id = int(res.inserted_primary_key[0]) if res.inserted_primary_key else None

    def stop_run(self, now: float) -> None:
        if self.run_id is None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                daemon_runs.update().where(daemon_runs.c.id == self.run_id).values(last_seen=now, stopped_at=now)
            )

    def write_cycle(
        self,
        batch: Sequence[ProbeResult],
        changes: Sequence[StateChange],
        now: float,
        zone_samples: Sequence[ZoneSample] = (),
        findings: Sequence[Finding] = (),
    ) -> None:
        """Store one cycle in one transaction: results, state changes, periods, samples, findings, heartbeat."""
        with self.engine.begin() as conn:
            self._write_findings(conn, findings)
            if batch:
                conn.execute(
                    results.insert(),
                    [
                        {
                            "instance": self.instance,
                            "target": r.target,
                            "probe": r.probe,
                            "ts": r.started_at.timestamp(),
                            "duration": r.duration,
                            "success": r.success,
                            "reason": r.reason,
                            "message": r.message[:1000],
                            "data": _encode(r),
                        }
                        for r in batch
                    ],
                )
            if zone_samples:
                conn.execute(zone_samples_t.insert(), [{"instance": self.instance, **vars(z)} for z in zone_samples])
            for change in changes:
                self._apply_change(conn, change)
            if self.run_id is not None:
                conn.execute(daemon_runs.update().where(daemon_runs.c.id == self.run_id).values(last_seen=now))

    def _write_findings(self, conn: sa.Connection, rows: Sequence[Finding]) -> None:
        t = findings_t
        for f in rows:
            values = {c.name: getattr(f, c.name) for c in t.columns if c.name != "instance"}
            values["evidence"] = f.evidence[:2000]
            done = conn.execute(
                t.update().where(t.c.instance == self.instance, t.c.id == f.id).values(**values)
            ).rowcount
            if not done:
                conn.execute(t.insert().values(instance=self.instance, **values))

    def load_findings(self) -> dict[str, Finding]:
        """Every finding this instance has recorded, open and resolved, by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(findings_t).where(findings_t.c.instance == self.instance)).all()
        return {r.id: finding_of(r) for r in rows}

    def _apply_change(self, conn: sa.Connection, c: StateChange) -> None:
        """Close the period of the old state, open one for the new, remember the state."""
        if c.old in PERIOD_KINDS:
            conn.execute(
                outages.update()
                .where(
                    outages.c.instance == self.instance,
                    outages.c.target == c.subject,
                    outages.c.kind == c.old,
                    outages.c.ended_at.is_(None),
                )
                .values(ended_at=c.at)
            )
        if c.new in PERIOD_KINDS:
            conn.execute(
                outages.insert().values(
                    instance=self.instance,
                    target=c.subject,
                    kind=c.new,
                    started_at=c.start,
                    ended_at=None,
                    reason=c.reason[:32],
                    message=c.message[:1000],
                )
            )
        updated = conn.execute(
            target_state.update()
            .where(target_state.c.instance == self.instance, target_state.c.target == c.subject)
            .values(state=c.new, since=c.start, updated_at=time.time())
        )
        if updated.rowcount == 0:
            conn.execute(
                target_state.insert().values(
                    instance=self.instance, target=c.subject, state=c.new, since=c.start, updated_at=time.time()
                )
            )

    # -- reads -----------------------------------------------------------

    def load_states(self) -> dict[str, StoredState]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(target_state).where(target_state.c.instance == self.instance))
            return {row.target: StoredState(row.state, row.since) for row in rows}

    def open_outages(self) -> list[OpenOutage]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outages)
                .where(outages.c.instance == self.instance, outages.c.ended_at.is_(None))
                .order_by(outages.c.started_at)
            )
            return [OpenOutage(r.target, r.kind, r.started_at, r.reason) for r in rows]

    def outages_between(self, start: float, end: float, target: str | None = None) -> list[sa.Row[Any]]:
        """Outages overlapping [start, end)."""
        q = sa.select(outages).where(
            outages.c.instance == self.instance,
            outages.c.started_at < end,
            sa.or_(outages.c.ended_at.is_(None), outages.c.ended_at > start),
        )
        if target is not None:
            q = q.where(outages.c.target == target)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(outages.c.started_at)))

    def results_between(self, start: float, end: float, target: str | None = None) -> list[sa.Row[Any]]:
        q = sa.select(results).where(results.c.instance == self.instance, results.c.ts >= start, results.c.ts < end)
        if target is not None:
            q = q.where(results.c.target == target)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(results.c.ts, results.c.id)))

    def count_results(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(results).where(results.c.instance == self.instance)
                ).scalar_one()
            )

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(meta.c.value).where(meta.c.instance == self.instance, meta.c.key == key)
            ).scalar_one_or_none()

    def _set_meta(self, conn: sa.Connection, key: str, value: str) -> None:
        done = conn.execute(
            meta.update().where(meta.c.instance == self.instance, meta.c.key == key).values(value=value)
        )
        if done.rowcount == 0:
            conn.execute(meta.insert().values(instance=self.instance, key=key, value=value))

    # -- usage -------------------------------------------------------------

    def import_operator_months(self, rows: Sequence[OperatorMonth], file: str, now: float) -> tuple[int, int]:
        """Upsert operator monthly figures; returns (new, replaced). One transaction."""
        new = replaced = 0
        with self.engine.begin() as conn:
            for row in rows:
                key = (
                    operator_usage.c.instance == self.instance,
                    operator_usage.c.zone == row.zone,
                    operator_usage.c.year == row.year,
                    operator_usage.c.month == row.month,
                )
                values = {
                    "smartphone": row.smartphone, "tablet": row.tablet, "pc": row.pc, "other": row.other,
                    "source_file": file[-400:], "source_line": row.line, "imported_at": now,
                }  # fmt: skip
                if conn.execute(operator_usage.update().where(*key).values(**values)).rowcount:
                    replaced += 1
                else:
                    conn.execute(
                        operator_usage.insert().values(
                            instance=self.instance, zone=row.zone, year=row.year, month=row.month, **values
                        )
                    )
                    new += 1
        return new, replaced

    def write_usage(self, source: str, daily: Sequence[UsageRow], monthly: Sequence[UsageRow], now: float) -> None:
        """Upsert one source's figures for today and this month (zeros where it saw nothing)."""
        with self.engine.begin() as conn:
            for table, key, rows in ((usage_daily, "day", daily), (usage_monthly, "month", monthly)):
                for row in rows:
                    u = row.usage
                    peak = row.peak
                    if table is usage_monthly and peak is None:
                        # The month's peak of simultaneous sessions is the highest of its days' peaks
                        # (each day's peak counts the sessions carried over from the day before).
                        peak = conn.execute(
                            sa.select(sa.func.max(usage_daily.c.peak_concurrent)).where(
                                usage_daily.c.instance == self.instance,
                                usage_daily.c.zone == row.zone,
                                usage_daily.c.source == source,
                                usage_daily.c.day.like(f"{row.period}-%"),
                            )
                        ).scalar_one_or_none()
                    values = {
                        "unique_users": u.unique_users if u else 0, "sessions": u.sessions if u else 0,
                        "session_seconds": u.session_seconds if u else 0.0,
                        "input_octets": u.input_octets if u else 0.0, "output_octets": u.output_octets if u else 0.0,
                        "peak_concurrent": peak, "updated_at": now,
                        **({"peak_clients": row.peak_clients} if row.peak_clients is not None else {}),
                    }  # fmt: skip
                    where = (
                        table.c.instance == self.instance,
                        table.c.zone == row.zone,
                        table.c[key] == row.period,
                        table.c.source == source,
                    )
                    if not conn.execute(table.update().where(*where).values(**values)).rowcount:
                        conn.execute(
                            table.insert().values(
                                instance=self.instance, zone=row.zone, source=source, **{key: row.period}, **values
                            )
                        )

    def usage_for_day(self, day: str, source: str) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(usage_daily).where(
                        usage_daily.c.instance == self.instance,
                        usage_daily.c.day == day,
                        usage_daily.c.source == source,
                    )
                )
            )

    def operator_months(self, year: int, month: int) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(operator_usage)
                    .where(
                        operator_usage.c.instance == self.instance,
                        operator_usage.c.year == year,
                        operator_usage.c.month == month,
                    )
                    .order_by(operator_usage.c.zone)
                )
            )

    # -- rollups and retention --------------------------------------------

    def rollup(self, now: float, *, max_hours: int = 24 * 40) -> int:
        """Aggregate every complete hour not yet rolled up; returns hours done (bounded)."""
        done_until = self.get_meta("rollup_done_until")
        current_hour = math.floor(now / 3600) * 3600
        if done_until is None:
            with self.engine.connect() as conn:
                first = conn.execute(
                    sa.select(sa.func.min(results.c.ts)).where(results.c.instance == self.instance)
                ).scalar_one_or_none()
            if first is None:
                return 0
            start = math.floor(first / 3600) * 3600
        else:
            start = float(done_until)
        hours = 0
        while start < current_hour and hours < max_hours:
            end = start + 3600
            rows = self.results_between(start, end)
            with self.engine.begin() as conn:
                conn.execute(hourly.delete().where(hourly.c.instance == self.instance, hourly.c.hour == start))
                conn.execute(
                    hourly_values.delete().where(
                        hourly_values.c.instance == self.instance, hourly_values.c.hour == start
                    )
                )
                plain, valued = _aggregate(rows, start)
                if plain:
                    conn.execute(hourly.insert(), [{"instance": self.instance, **p} for p in plain])
                if valued:
                    conn.execute(hourly_values.insert(), [{"instance": self.instance, **v} for v in valued])
                self._set_meta(conn, "rollup_done_until", repr(end))
            start = end
            hours += 1
        return hours

    def apply_retention(self, now: float, raw_retention: float, rollup_retention: float | None) -> int:
        """Delete raw results older than the retention, but only hours already rolled up."""
        done = self.get_meta("rollup_done_until")
        limit = now - raw_retention
        if done is not None:
            limit = min(limit, float(done))
        else:
            return 0
        deleted = 0
        with self.engine.begin() as conn:
            res = conn.execute(results.delete().where(results.c.instance == self.instance, results.c.ts < limit))
            deleted += res.rowcount or 0
            if rollup_retention is not None:
                old = now - rollup_retention
                conn.execute(hourly.delete().where(hourly.c.instance == self.instance, hourly.c.hour < old))
                conn.execute(
                    hourly_values.delete().where(hourly_values.c.instance == self.instance, hourly_values.c.hour < old)
                )
        return deleted


def finding_of(row: sa.Row[Any]) -> Finding:
    return Finding(**{k: getattr(row, k) for k in Finding.__dataclass_fields__})


def _aggregate(rows: Iterable[sa.Row[Any]], hour: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    plain: dict[str, dict[str, Any]] = {}
    stats: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in rows:
        p = plain.setdefault(
            row.target,
            {
                "target": row.target,
                "hour": hour,
                "probe": row.probe,
                "samples": 0,
                "successes": 0,
                "duration_sum": 0.0,
                "duration_max": 0.0,
            },
        )
        p["samples"] += 1
        p["successes"] += 1 if row.success else 0
        p["duration_sum"] += row.duration
        p["duration_max"] = max(p["duration_max"], row.duration)
        data = json.loads(row.data or "{}")
        for name, value in _clean(data.get("values", {})).items():
            stats[(row.target, name, "")].append(float(value))
        for name, labels, value in data.get("series", []):
            stats[(row.target, name, json.dumps(labels, sort_keys=True))].append(float(value))
    valued = [
        {
            "target": t,
            "hour": hour,
            "name": n,
            "labels": lb,
            "count": len(v),
            "sum": math.fsum(v),
            "min": min(v),
            "max": max(v),
            "last": v[-1],
        }
        for (t, n, lb), v in stats.items()
    ]
    return list(plain.values()), valued


def safe_url(url: str) -> str:
    """The URL with any password masked, for logs and errors."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid store URL>"
