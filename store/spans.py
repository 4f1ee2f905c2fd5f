"""When each zone was measured, kept as spans: a zone's availability counts only time vigia
measured it, and reading that from the samples themselves costs a month close a pass over
every sample (44,640 a zone a month at one a minute). Each cycle's samples extend their zone's
current span or open a new one after a gap, so the month close reads a handful of rows a zone.

A sample covers [ts, ts + interval); a sample starting at or before the current span's end
continues it (exactly the union of the samples' intervals, merged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from store.backends import insert_for
from store.records import ZoneSample
from store.schema import zone_samples_t, zone_spans

Span = tuple[float, float]


class SpanWriter:
    """Extends the spans of one instance's zones; the writer thread's, with the current span of
    each zone remembered between cycles (read back from the store on first use)."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self._current: dict[str, Span] | None = None

    def forget(self) -> None:
        """After a failed transaction: what is remembered may not have been stored."""
        self._current = None

    def write(self, conn: sa.Connection, samples: Sequence[ZoneSample]) -> None:
        current = self._current if self._current is not None else self._load(conn)
        self._current = current
        # Spans opened in this batch are inserted with their final end; older ones are updated.
        new: dict[tuple[str, float], dict[str, object]] = {}
        extend: dict[tuple[str, float], float] = {}
        for s in sorted(samples, key=lambda s: s.ts):
            end = s.ts + s.interval
            span = current.get(s.zone)
            if span is not None and span[0] <= s.ts <= span[1]:
                if end > span[1]:
                    current[s.zone] = (span[0], end)
                    if (s.zone, span[0]) in new:
                        new[(s.zone, span[0])]["end"] = end
                    else:
                        extend[(s.zone, span[0])] = end
                continue
            if span is None or s.ts > span[1]:
                current[s.zone] = (s.ts, end)
            # else: older than the current span (a late batch): a span of its own, merged when read
            new[(s.zone, s.ts)] = {"instance": self.instance, "zone": s.zone, "start": s.ts, "end": end}
        t = zone_spans
        if extend:
            conn.execute(
                t.update()
                .where(t.c.instance == self.instance, t.c.zone == sa.bindparam("z"), t.c.start == sa.bindparam("s"))
                .values(end=sa.func.max(t.c.end, sa.bindparam("e")) if conn.dialect.name == "sqlite" else
                        sa.func.greatest(t.c.end, sa.bindparam("e"))),
                [{"z": zone, "s": start, "e": end} for (zone, start), end in extend.items()],
            )  # fmt: skip
        if new:  # written again after a lost acknowledgement: already there, nothing to do
            conn.execute(insert_for(conn.dialect.name, t).on_conflict_do_nothing(), list(new.values()))

    def _load(self, conn: sa.Connection) -> dict[str, Span]:
        t = zone_spans
        latest = sa.select(t.c.zone, sa.func.max(t.c.start).label("start")).where(t.c.instance == self.instance)
        last = latest.group_by(t.c.zone).subquery()
        q = (
            sa.select(t.c.zone, t.c.start, t.c.end)
            .join(last, sa.and_(t.c.zone == last.c.zone, t.c.start == last.c.start))
            .where(t.c.instance == self.instance)
        )
        return {zone: (start, end) for zone, start, end in conn.execute(q)}


def read(conn: sa.Connection, instance: str, zones: Iterable[str], start: float, end: float) -> dict[str, list[Span]]:
    """Each zone's spans overlapping [start - 1 day, end), oldest first."""
    ids = list(zones)
    out: dict[str, list[Span]] = {z: [] for z in ids}
    if not ids:
        return out
    t = zone_spans
    q = (
        sa.select(t.c.zone, t.c.start, t.c.end)
        .where(t.c.instance == instance, t.c.zone.in_(ids), t.c.start < end, t.c.end > start - 86400)
        .order_by(t.c.zone, t.c.start)
    )
    for zone, a, b in conn.execute(q):
        out[zone].append((a, b))
    return out


def rebuild(conn: sa.Connection, instance: str | None = None) -> int:
    """Spans from the stored samples (the schema upgrade; samples loaded by other means): one
    pass, merged in the database. Returns the spans written."""
    z, t = zone_samples_t, zone_spans
    scope = [] if instance is None else [z.c.instance == instance]
    ends = z.c.ts + z.c.interval
    previous = sa.func.lag(ends).over(partition_by=(z.c.instance, z.c.zone), order_by=z.c.ts)
    marked = (
        sa.select(
            z.c.instance, z.c.zone, z.c.ts, ends.label("ends"), sa.case((z.c.ts <= previous, 0), else_=1).label("new")
        )
        .where(*scope)
        .subquery()
    )
    run = sa.func.sum(marked.c.new).over(partition_by=(marked.c.instance, marked.c.zone), order_by=marked.c.ts)
    runs = sa.select(marked.c.instance, marked.c.zone, marked.c.ts, marked.c.ends, run.label("run")).subquery()
    merged = sa.select(runs.c.instance, runs.c.zone, sa.func.min(runs.c.ts), sa.func.max(runs.c.ends)).group_by(
        runs.c.instance, runs.c.zone, runs.c.run
    )
    mine = [] if instance is None else [t.c.instance == instance]
    conn.execute(t.delete().where(*mine))
    conn.execute(t.insert().from_select(["instance", "zone", "start", "end"], merged))
    return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*mine)).scalar_one())
