"""Time partitions of the raw tables on PostgreSQL (native declarative partitioning).

Raw results and zone samples grow by every check of every instance; on PostgreSQL they are
partitioned by ``ts``: results by UTC day, zone samples (kept for ever, as on SQLite) by UTC month.
Retention then drops whole days, once every instance with rows in them has rolled them up,
instead of deleting rows one by one (no bloat, no vacuum debt). Partitions are made ahead (a
week, two months) by the schema upgrade and by every retention pass;
a default partition catches a row from outside them (a clock far off) so no write ever fails, and
the upkeep moves such rows into their month. SQLite, for a single instance, is not partitioned.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kernel.month import Month

log = logging.getLogger(__name__)

RAW = ("probe_results", "zone_samples")
DAILY = frozenset({"probe_results"})  # the rest by month
DAY = 86400.0
_INDEXES = {
    "probe_results": ("ix_probe_results_target_ts", "(instance, target, ts)"),
    "zone_samples": ("ix_zone_samples_zone_ts", "(instance, zone, ts)"),
}


@dataclass(frozen=True)
class Part:
    name: str
    start: float | None  # None: from MINVALUE (the rows from before partitioning)
    end: float | None  # None: the default partition


UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Slot:
    """The span one partition of ``table`` covers: a UTC day or month."""

    table: str
    lo: float
    hi: float

    @property
    def name(self) -> str:
        fmt = "%Y%m%d" if self.table in DAILY else "%Y%m"
        return f"{self.table}_p{datetime.fromtimestamp(self.lo, UTC).strftime(fmt)}"

    def next(self) -> Slot:
        return slot_at(self.table, self.hi)


def slot_at(table: str, ts: float) -> Slot:
    if table in DAILY:
        lo = math.floor(ts / DAY) * DAY
        return Slot(table, lo, lo + DAY)
    m = Month.of(datetime.fromtimestamp(ts, UTC))
    return Slot(table, m.start(UTC).timestamp(), m.next().start(UTC).timestamp())


def _horizon(table: str, now: float) -> float:
    """Partitions are made up to here: a week of days, or two months past this one."""
    if table in DAILY:
        return now + 7 * DAY
    return slot_at(table, slot_at(table, slot_at(table, now).hi).hi).hi


def is_partitioned(conn: sa.Connection, table: str) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    q = sa.text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = :t")
    return conn.execute(q, {"t": table}).first() is not None


def convert(conn: sa.Connection, now: float, *, fresh: bool = False) -> None:
    """Make each raw table partitioned, its rows so far one partition (they are never rewritten;
    it goes as a whole once its newest row is past retention), then this month and the next ones.
    ``fresh``: the tables were just created, empty. Runs inside the schema upgrade's locked
    transaction."""
    for table in RAW:
        if is_partitioned(conn, table):
            continue
        old = f"{table}_v6"
        unique, columns = _INDEXES[table]
        newest = None if fresh else conn.execute(sa.text(f"SELECT max(ts) FROM {table}")).scalar()
        cut = float(newest) + 1.0 if newest is not None else slot_at(table, now).lo
        for stmt in (
            f"ALTER TABLE {table} RENAME TO {old}",
            f"ALTER INDEX {unique} RENAME TO {unique}_v6",
            f"ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey",
            # No primary key on the parent: it would have to hold ts too, and costs an index entry
            # per check; (instance, subject, ts) is unique, and that is the key every read uses.
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (ts)",
            # The id sequence follows the new table: dropping the old rows' partition must not take it.
            f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id",
            f"CREATE UNIQUE INDEX {unique} ON {table} {columns}",
            f"ALTER TABLE {table} ATTACH PARTITION {old} FOR VALUES FROM (MINVALUE) TO ({cut!r})"
            if newest is not None
            else f"DROP TABLE {old}",
            f"CREATE TABLE {table}_pdefault PARTITION OF {table} DEFAULT",
        ):
            conn.execute(sa.text(stmt))
        if table == "probe_results":  # time-range scans across targets (rollups): a BRIN is a few pages
            conn.execute(sa.text("DROP INDEX IF EXISTS ix_probe_results_ts"))
            conn.execute(sa.text("CREATE INDEX ix_probe_results_ts ON probe_results USING brin (ts)"))
        # Rows between the old ones and today (none, but for clocks far off) go to the default partition.
        _make_ahead(conn, table, now, floor=max(cut, slot_at(table, now).lo))
    log.info("raw tables partitioned by month")


def parts(conn: sa.Connection, table: str) -> list[Part]:
    """The partitions of ``table`` with their bounds, oldest first, the default last."""
    q = sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
    )
    out = []
    for name, bound in conn.execute(q, {"t": table}):
        if bound == "DEFAULT":
            out.append(Part(name, None, None))
            continue
        lo, hi = bound.removeprefix("FOR VALUES FROM (").removesuffix(")").replace("'", "").split(") TO (")
        out.append(Part(name, None if lo == "MINVALUE" else float(lo), float(hi)))
    return sorted(out, key=lambda p: (p.end is None, p.end or 0.0))


def _make_ahead(conn: sa.Connection, table: str, now: float, floor: float | None = None) -> list[str]:
    """Partitions from ``floor`` (or the newest one's end) up to the horizon past ``now``."""
    existing = {p.name: p for p in parts(conn, table)}
    ends = [p.end for p in existing.values() if p.end is not None]
    start = floor if floor is not None else max(ends, default=slot_at(table, now).lo)
    made = []
    slot = slot_at(table, start)
    while slot.lo < _horizon(table, now):
        lo = max(slot.lo, start)
        if lo < slot.hi and slot.name not in existing:
            _create(conn, table, slot.name, lo, slot.hi)
            made.append(slot.name)
        slot = slot.next()
    return made


def _create(conn: sa.Connection, table: str, name: str, lo: float, hi: float) -> None:
    """A partition for [lo, hi). Rows the default partition caught in that range (a clock far
    off) would block it: they are set aside and put back through the new partition."""
    default, rng = f"{table}_pdefault", {"lo": lo, "hi": hi}
    strays = conn.execute(sa.text(f"SELECT count(*) FROM {default} WHERE ts >= :lo AND ts < :hi"), rng).scalar()
    if strays:
        conn.execute(sa.text(f"CREATE TEMP TABLE vigia_strays ON COMMIT DROP AS SELECT * FROM {default} WHERE false"))
        conn.execute(
            sa.text(f"WITH gone AS (DELETE FROM {default} WHERE ts >= :lo AND ts < :hi RETURNING *) "
                    "INSERT INTO vigia_strays SELECT * FROM gone"), rng,
        )  # fmt: skip
    conn.execute(sa.text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lo!r}) TO ({hi!r})"))
    if strays:
        conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM vigia_strays"))
        conn.execute(sa.text("DROP TABLE vigia_strays"))
        log.warning("%d row(s) of %s outside any month moved into %s", strays, table, name)


@dataclass(frozen=True)
class Upkeep:
    made: list[str]
    dropped: list[str]
    rows_dropped: int


def upkeep(conn: sa.Connection, now: float, drop_before: float | None) -> Upkeep:
    """Make the coming months' partitions (and those of any month the default partition caught
    rows of), then drop the raw results' partitions wholly before ``drop_before``. The default
    partition is never dropped; zone samples are kept, as on SQLite."""
    made, dropped, rows = [], [], 0
    for table in RAW:
        if not is_partitioned(conn, table):
            continue
        made += _adopt_strays(conn, table) + _make_ahead(conn, table, now)
        if drop_before is None or table != "probe_results":
            continue
        old = conn.execute(sa.text(f"DELETE FROM {table}_pdefault WHERE ts < :t"), {"t": drop_before})
        rows += old.rowcount or 0
        for p in parts(conn, table):
            if p.end is not None and p.end <= drop_before:
                rows += int(conn.execute(sa.text(f"SELECT count(*) FROM {p.name}")).scalar() or 0)
                conn.execute(sa.text(f"DROP TABLE {p.name}"))
                dropped.append(p.name)
    return Upkeep(made, dropped, rows)


def _adopt_strays(conn: sa.Connection, table: str) -> list[str]:
    """Partitions for the days or months whose rows the default partition holds (old timestamps written
    after partitioning: an imported history, a clock far off)."""
    low, high = conn.execute(sa.text(f"SELECT min(ts), max(ts) FROM {table}_pdefault")).one()
    if low is None:
        return []
    # A bounded pass: a year back at most, some partitions at a time (the rest at the next pass).
    low = max(float(low), time.time() - 400 * DAY)
    made: list[str] = []
    slot = slot_at(table, float(low))
    while slot.lo <= float(high) and len(made) < 60:
        current = parts(conn, table)
        if slot.name not in {p.name for p in current} and not any(_overlaps(p, slot.lo, slot.hi) for p in current):
            _create(conn, table, slot.name, slot.lo, slot.hi)
            made.append(slot.name)
        slot = slot.next()
    return made


def _overlaps(p: Part, lo: float, hi: float) -> bool:
    if p.end is None:
        return False
    return (p.start is None or p.start < hi) and p.end > lo
