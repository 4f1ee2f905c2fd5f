"""History store (SQLAlchemy Core): SQLite by default, PostgreSQL for several instances.

The tables and migrations are in store.schema, the row values in store.records; usage and
rollups are parts of the Store of their own (store.usage, store.rollup); reports read through
store.reader. Schema versions are numbered; ``migrate()`` brings an older database up to date
on start and refuses a newer one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from domain.findings import Finding
from domain.zones import Zone
from kernel.errors import StoreError, short
from probes.result import ProbeResult
from store import partitions, periods, refolds, spans
from store.agents import Agents
from store.backends import engine_for, insert_for, reading, safe_url, writing
from store.corrections import Corrections
from store.incidents import Incidents
from store.maintenance import Windows
from store.migrations import MIGRATIONS
from store.reader import GroupReader, Reader
from store.records import (
    OpenOutage,
    StateChange,
    StoredState,
    ZoneSample,
    encode,
    finding_of,
)
from store.rollup import Rollups
from store.schema import (
    MIGRATION_LOCK,
    PATH_INDEX,
    SCHEMA_VERSION,
    daemon_runs,
    findings_t,
    members,
    metadata,
    outages,
    overlapping,
    result_chunks,
    results,
    schema_version,
    target_state,
    zone_samples_t,
)
from store.usage import UsageTables

log = logging.getLogger(__name__)


class Store(UsageTables, Rollups):
    """All reads and writes of vigia's history. Writes come from one writer thread."""

    def __init__(self, url: str, instance: str) -> None:
        self.url = url
        self.instance = instance
        try:
            self.engine = engine_for(url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"cannot open the store: {type(exc).__name__}: {exc}") from exc
        self.run_id: int | None = None
        self._spans = spans.SpanWriter(instance)
        database = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        self.file = os.path.abspath(database) if database and database != ":memory:" else None
        # A connection of our own keeps the file's inode open: if someone deletes the file, the
        # history can still be copied out of it (see check_file).
        self._anchor: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    @classmethod
    @contextmanager
    def opened(cls, url: str, instance: str) -> Iterator[Store]:
        """A store for one command: its schema brought up to date, closed when the block ends."""
        store = cls(url, instance)
        try:
            store.migrate()
            yield store
        finally:
            store.close()

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

    def relieve(self) -> bool:
        """After a failed write: give the SQLite WAL back to the disk (a checkpoint that truncates
        it), whether it worked. On a full disk the WAL had taken every free byte and, with no
        commit to trigger a checkpoint, refilled whatever was freed; without room for the
        checkpoint this fails too, and is tried again before the next write. Nothing to do on
        PostgreSQL."""
        if self.dialect != "sqlite":
            return True
        try:
            with self.engine.connect() as conn:
                busy, _frames, _moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            return not busy
        except SQLAlchemyError as exc:
            log.debug("WAL checkpoint failed: %s", short(exc))
            return False

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
                if self.dialect == "postgresql":
                    # Instances starting together: one migrates, the others wait and find it done.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                inspector = sa.inspect(conn)
                if not inspector.has_table(schema_version.name):
                    metadata.create_all(conn)
                    if self.dialect == "postgresql":
                        partitions.convert(conn, time.time(), fresh=True)
                    conn.execute(sa.text(PATH_INDEX))  # on the (partitioned) table as it now stands
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
        with reading(self.engine) as conn:
            return int(conn.execute(sa.select(schema_version.c.version)).scalar_one())

    # -- writes (writer thread) -----------------------------------------

    def start_run(self, host: str, version: str, now: float) -> None:
        with writing(self.engine) as conn:
            res = conn.execute(
                daemon_runs.insert().values(
                    instance=self.instance, host=host, version=version, started_at=now, last_seen=now
                )
            )
            self.run_id = int(res.inserted_primary_key[0]) if res.inserted_primary_key else None

    def stop_run(self, now: float) -> None:
        if self.run_id is None:
            return
        with writing(self.engine) as conn:
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
        try:
            self._write_cycle(batch, changes, now, zone_samples, findings)
        except BaseException:
            self._spans.forget()  # the transaction may not have stored what the span writer remembers
            raise

    def _write_cycle(
        self,
        batch: Sequence[ProbeResult],
        changes: Sequence[StateChange],
        now: float,
        zone_samples: Sequence[ZoneSample],
        findings: Sequence[Finding],
    ) -> None:
        rows = self._result_rows(batch)  # before the transaction: a result refused holds back no other
        with writing(self.engine) as conn:
            self._write_findings(conn, findings)
            if rows:
                conn.execute(insert_for(self.dialect, results).on_conflict_do_nothing(), rows)
            if zone_samples:
                rows = [{"instance": self.instance, **vars(z), "central": z.central or None} for z in zone_samples]
                conn.execute(insert_for(self.dialect, zone_samples_t).on_conflict_do_nothing(), rows)
                self._spans.write(conn, zone_samples)
            periods.write(conn, self.dialect, self.instance, changes)
            if self.run_id is not None:
                conn.execute(daemon_runs.update().where(daemon_runs.c.id == self.run_id).values(last_seen=now))

    def _result_rows(self, batch: Sequence[ProbeResult]) -> list[dict[str, Any]]:
        """The results' rows; a result whose data cannot be encoded is refused alone, named with its
        target and why (the write would fail whole, and the daemon's writer retry it for ever)."""
        rows = []
        for r in batch:
            try:
                data = encode(r)
            except (TypeError, ValueError) as exc:
                log.error("%s (%s): result at %s not stored: %s", r.target, r.probe, r.started_at.isoformat(), exc)
                continue
            rows.append({"instance": self.instance, "target": r.target, "probe": r.probe,
                         "ts": r.started_at.timestamp(), "duration": r.duration, "success": r.success,
                         "reason": r.reason, "message": r.message[:1000], "data": data})  # fmt: skip
        return rows

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
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(findings_t).where(findings_t.c.instance == self.instance)).all()
        return {r.id: finding_of(r) for r in rows}

    # -- reads -----------------------------------------------------------

    def load_states(self) -> dict[str, StoredState]:
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(target_state).where(target_state.c.instance == self.instance))
            return {row.target: StoredState(row.state, row.since) for row in rows}

    def open_outages(self) -> list[OpenOutage]:
        with reading(self.engine) as conn:
            rows = conn.execute(
                sa.select(outages)
                .where(outages.c.instance == self.instance, outages.c.ended_at.is_(None))
                .order_by(outages.c.started_at)
            )
            return [OpenOutage(r.target, r.kind, r.started_at, r.reason) for r in rows]

    def rebuild_spans(self) -> int:
        """This instance's zone spans made again from its samples (samples loaded by other means)."""
        with writing(self.engine) as conn:
            n = spans.rebuild(conn, self.instance)
        self._spans.forget()
        return n

    def reader(self, ha_group: str | None = None) -> Reader:
        """What reports read this instance's history through; with ``ha_group``, the group's:
        every instance that ever ran in it (store.lease's members), this one included."""
        if ha_group is None:
            return Reader(self.engine, self.instance)
        with reading(self.engine) as conn:
            q = sa.select(members.c.instance).where(members.c.ha_group == ha_group).distinct()
            names = {self.instance, *conn.execute(q).scalars()}
        return GroupReader(self.engine, ha_group, sorted(names))

    def outages_between(self, start: float, end: float, target: str | None = None) -> list[sa.Row[Any]]:
        """Outages overlapping [start, end)."""
        q = sa.select(outages).where(overlapping(self.instance, start, end))
        if target is not None:
            q = q.where(outages.c.target == target)
        with reading(self.engine) as conn:
            return list(conn.execute(q.order_by(outages.c.started_at)))

    def outage(self, number: int) -> sa.Row[Any] | None:
        """Stored period ``number`` of this instance, as measured (what a correction names)."""
        q = sa.select(outages).where(outages.c.id == number, outages.c.instance == self.instance)
        with reading(self.engine) as conn:
            return conn.execute(q).first()

    @property
    def corrections(self) -> Corrections:
        """Corrections after the fact (store.corrections)."""
        return Corrections(self.engine, self.instance)

    @property
    def incidents(self) -> Incidents:
        """Operators' incidents of this instance (store.incidents)."""
        return Incidents(self.engine, self.instance)

    def agents(self, ha_group: str | None = None) -> Agents:
        """Zone agents (store.agents), the HA group's when the instance belongs to one: any of its
        instances takes any agent's batch."""
        return Agents(self.engine, ha_group or self.instance, self.instance)

    def refold(self, zones: Mapping[str, Zone]) -> int:
        """Judge again the spans of zones their agents' late results or reboots call for (store.refolds)."""
        return refolds.run(self.engine, self.instance, zones)

    @property
    def windows(self) -> Windows:
        """Maintenance windows added from the command line (store.maintenance)."""
        return Windows(self.engine, self.instance)

    def count_results(self) -> int:
        """Checks stored, raw or chunked."""
        c = result_chunks.c
        raw = sa.select(sa.func.count()).select_from(results).where(results.c.instance == self.instance)
        folded = sa.select(sa.func.coalesce(sa.func.sum(c.checks), 0)).where(c.instance == self.instance)
        with reading(self.engine) as conn:
            return int(conn.execute(raw).scalar_one()) + int(conn.execute(folded).scalar_one())


__all__ = [
    "SCHEMA_VERSION",
    "OpenOutage",
    "StateChange",
    "Store",
    "StoredState",
    "ZoneSample",
    "safe_url",
]
