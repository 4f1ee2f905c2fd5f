"""Time partitions of the raw tables on the real PostgreSQL server: a new database is partitioned,
an older one is upgraded with its rows kept, a row from outside every partition is taken into its
day, and retention drops whole days only once every live instance has rolled them up."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa

from probes.result import ProbeResult
from store import backends, partitions, schema
from store.db import Store
from tests import pgdb

DAY = 86400.0


def check(target: str, ts: float) -> ProbeResult:
    return ProbeResult(target, "icmp", datetime.fromtimestamp(ts, UTC), 0.01, True, "", "", {"rtt_avg_seconds": 0.01})


def where_rows_are(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        q = sa.text("SELECT tableoid::regclass::text, count(*) FROM probe_results GROUP BY 1")
        return {name: n for name, n in conn.execute(q)}


def test_new_database_is_partitioned_by_day_and_month() -> None:
    with pgdb.database() as url:
        store = Store(url, "cdc")
        store.migrate()
        now = time.time()
        store.write_cycle([check("gw", now)], [], now)
        with store.engine.connect() as conn:
            assert partitions.is_partitioned(conn, "probe_results") and partitions.is_partitioned(conn, "zone_samples")
            days = [p for p in partitions.parts(conn, "probe_results") if p.end is not None]
            months = [p for p in partitions.parts(conn, "zone_samples") if p.end is not None]
        assert {p.end - (p.start or 0) for p in days} == {DAY} and len(days) >= 7
        assert len(months) == 3
        assert where_rows_are(store) == {partitions.slot_at("probe_results", now).name: 1}
        store.close()


def test_an_older_database_keeps_its_rows_in_one_partition() -> None:
    with pgdb.database() as url:
        engine = backends.engine_for(url)
        now = time.time()
        with engine.begin() as conn:  # a version 6 database: tables as create_all makes them, not partitioned
            schema.metadata.create_all(conn)
            conn.execute(schema.schema_version.insert().values(id=1, version=6, migrated_at=0.0))
            row = {"instance": "cdc", "probe": "icmp", "duration": 0.1, "success": True, "reason": "", "message": "",
                   "data": "{}"}  # fmt: skip
            conn.execute(schema.results.insert(), [{**row, "target": f"gw{i}", "ts": now - 3 * DAY} for i in range(5)])
        engine.dispose()
        store = Store(url, "cdc")
        assert store.migrate() == schema.SCHEMA_VERSION
        store.write_cycle([check("gw0", now)], [], now)
        assert where_rows_are(store) == {"probe_results_v6": 5, partitions.slot_at("probe_results", now).name: 1}
        assert store.count_results() == 6
        store.close()


def test_retention_drops_days_every_live_instance_rolled_up() -> None:
    with pgdb.database() as url:
        a, b = Store(url, "a"), Store(url, "b")
        a.migrate()
        now = time.time()
        old = now - 40 * DAY
        for s in (a, b):
            s.start_run("host", "test", now)
            s.write_cycle([check("gw", old + k * 60) for k in range(10)], [], now)
        assert a.rollup(now) > 0  # a's rows are now its chunks, the raw day waits for b's rollup
        # A row written late (its hour rolled up already: it stays raw) for a day that has no
        # partition (older than the first one made).
        a.write_cycle([check("late", now - 20 * DAY)], [], now)
        # a's own chunks past retention go; the raw partitions stay, b has not rolled up.
        assert a.apply_retention(now, raw_retention=35 * DAY, rollup_retention=None) == 10
        assert b.count_results() == 10
        late_day = partitions.slot_at("probe_results", now - 20 * DAY).name
        assert where_rows_are(a).get(late_day) == 1  # taken out of the default partition into its day
        assert b.rollup(now) > 0
        assert b.apply_retention(now, raw_retention=35 * DAY, rollup_retention=None) == 10
        assert a.count_results() == 1 and b.count_results() == 0
        with a.engine.connect() as conn:
            hourly = conn.execute(sa.select(sa.func.sum(schema.hourly.c.samples))).scalar_one()
        assert hourly == 20  # the figures rolled up stay
        a.close()
        b.close()
