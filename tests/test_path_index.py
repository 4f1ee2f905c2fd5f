"""The month's monitoring-path time (Reader.path_seconds) is read through a partial index of the few
samples the centre failed, on SQLite and PostgreSQL, fresh or upgraded: at 1,000 zones the scan of
every sample of the month was 11 s of a 37 s close (benchmarks/reports.py main_pg)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from store import schema
from store.db import Store
from store.records import ZoneSample
from tests import pgdb

JAN = 1735707600.0  # 2025-01-01 00:00 America/Bogota


@contextmanager
def store_at(kind: str, tmp_path: Path) -> Iterator[Store]:
    if kind == "sqlite":
        store = Store(f"sqlite:///{tmp_path}/vigia.db", "cdc")
        yield store
        store.close()
        return
    if not pgdb.available():
        pytest.skip("PostgreSQL is not running (deploy/test-services.sh starts it)")
    with pgdb.database() as url:
        store = Store(url, "cdc")
        yield store
        store.close()


def fill(store: Store, zones: int = 40, minutes: int = 500) -> None:
    # Every sample ok but one zone's ten minutes, dark from the centre and working from inside.
    samples = [
        ZoneSample(f"ZD-{z:02d}", JAN + 60 * m, 60.0, "up", "ok", True, 0.0, 0.002, "{}",
                   "failed" if z == 7 and 100 <= m < 110 else "")
        for z in range(zones) for m in range(minutes)
    ]  # fmt: skip
    store.write_cycle([], [], JAN, samples)


def path_plan(store: Store) -> tuple[dict[str, float], str]:
    """What path_seconds returns, and the plan its own statement gets (captured as it runs)."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "zone_samples" in statement:
            seen.append((statement, params))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        found = store.reader().path_seconds([f"ZD-{z:02d}" for z in range(40)], JAN, JAN + 86400)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    ((statement, params),) = seen
    explain = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql("ANALYZE zone_samples")
        rows = conn.exec_driver_sql(explain + statement, params).all()
    return found, "\n".join(str(r[-1]) for r in rows)


def partial_indexes(store: Store) -> dict[str, str]:
    """PostgreSQL: each index of the samples' failed-centre rows, and its table (partitions included)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT indexname, tablename FROM pg_indexes WHERE indexdef LIKE :partial"),
            {"partial": "%WHERE ((central)::text = 'failed'::text)%"},
        )
        return {name: table for name, table in rows}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_path_time_is_read_through_the_partial_index(kind: str, tmp_path: Path) -> None:
    with store_at(kind, tmp_path) as store:
        store.migrate()
        fill(store)
        found, plan = path_plan(store)
        assert found["ZD-07"] == 600.0 and sum(found.values()) == 600.0
        assert "Seq Scan" not in plan and "SCAN zone_samples" not in plan, plan
        names = {"ix_zone_samples_path"} if kind == "sqlite" else set(partial_indexes(store))
        assert any(name in plan for name in names), plan


def test_an_upgraded_postgresql_database_gets_the_index_on_every_partition(tmp_path: Path) -> None:
    with store_at("postgresql", tmp_path) as store:
        store.migrate()
        fill(store)
        with store.engine.begin() as conn:  # as schema 13 left it
            conn.exec_driver_sql("DROP INDEX ix_zone_samples_path")
            conn.execute(schema.schema_version.update().values(version=13))
        assert store.migrate() == schema.SCHEMA_VERSION
        with store.engine.connect() as conn:
            parts = (
                conn.exec_driver_sql(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'zone_samples'"
                )
                .scalars()
                .all()
            )
        partial = partial_indexes(store)
        assert len(parts) >= 3 and set(parts) <= set(partial.values())
        found, plan = path_plan(store)
        assert found["ZD-07"] == 600.0 and "Seq Scan" not in plan, plan
        assert any(name in plan for name in partial), plan
