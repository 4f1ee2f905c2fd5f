"""The schema's migrations: ``MIGRATIONS[n]`` takes a database from version n to n + 1, in the
transaction (and, on PostgreSQL, under the advisory lock) that ``Store.migrate`` holds."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from store.schema import (
    PATH_INDEX,
    V2_TABLES,
    V3_TABLES,
    V4_TABLES,
    V5_TABLES,
    V8_TABLES,
    V9_TABLES,
    V10_TABLES,
    metadata,
    results,
    zone_samples_t,
)
from store.schema_agents import V11_TABLES, V12_TABLES
from store.schema_corrections import corrections_t
from store.schema_deliveries import deliveries_t


def _v1_to_v2(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V2_TABLES))


def _v2_to_v3(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V3_TABLES))


def _v3_to_v4(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V4_TABLES))


def _v4_to_v5(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V5_TABLES))


def _v5_to_v6(conn: sa.Connection) -> None:
    """Results and zone samples become unique per (instance, subject, time), so that writing a
    batch again (its commit acknowledged to no one) is harmless. Copies already there go first."""
    for table, subject, index in ((results, "target", "ix_probe_results_target_ts"),
                                  (zone_samples_t, "zone", "ix_zone_samples_zone_ts")):  # fmt: skip
        keep = sa.select(sa.func.min(table.c.id)).group_by(table.c.instance, table.c[subject], table.c.ts)
        conn.execute(table.delete().where(table.c.id.not_in(keep.scalar_subquery())))
        conn.execute(sa.text(f"DROP INDEX {index}"))
        next(i for i in table.indexes if i.name == index).create(conn)


def _v6_to_v7(conn: sa.Connection) -> None:
    """PostgreSQL: the raw tables partitioned by month (store.partitions); SQLite: nothing."""
    if conn.dialect.name == "postgresql":
        from store import partitions

        partitions.convert(conn, time.time())


def _v7_to_v8(conn: sa.Connection) -> None:
    from store import spans

    metadata.create_all(conn, tables=list(V8_TABLES))
    spans.rebuild(conn)


def _v8_to_v9(conn: sa.Connection) -> None:
    """The chunk table. Hours rolled up before the upgrade stay raw until retention removes them:
    an upgrade must not spend an hour rewriting a month of rows under the schema lock."""
    metadata.create_all(conn, tables=list(V9_TABLES))


def _v9_to_v10(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V10_TABLES))


def _v10_to_v11(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V11_TABLES))


def _v11_to_v12(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=list(V12_TABLES))
    # Absent only where zone_samples was made before 12 (earlier migrations create today's table);
    # a column of the partitioned parent on PostgreSQL reaches every partition.
    if "central" not in {c["name"] for c in sa.inspect(conn).get_columns("zone_samples")}:
        conn.execute(sa.text("ALTER TABLE zone_samples ADD COLUMN central VARCHAR(16)"))


def _v12_to_v13(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[corrections_t, deliveries_t])


def _v13_to_v14(conn: sa.Connection) -> None:
    conn.execute(sa.text(PATH_INDEX))


MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6, 6: _v6_to_v7, 7: _v7_to_v8,
    8: _v8_to_v9, 9: _v9_to_v10, 10: _v10_to_v11, 11: _v11_to_v12, 12: _v12_to_v13, 13: _v13_to_v14,
}  # fmt: skip
