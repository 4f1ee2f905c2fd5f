"""Hourly rollups of raw results, and retention: raw rows go only once their hour is rolled up."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import chunks, partitions
from store.backends import reading, writing
from store.base import Tables
from store.records import clean
from store.schema import MIGRATION_LOCK, daemon_runs, hourly, hourly_values, meta, result_chunks, results


class Rollups(Tables):
    def rollup(self, now: float, *, max_hours: int = 24 * 40) -> int:
        """Aggregate every complete hour not yet rolled up; returns hours done (bounded)."""
        done_until = self.get_meta("rollup_done_until")
        current_hour = math.floor(now / 3600) * 3600
        if done_until is None:
            with reading(self.engine) as conn:
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
            with writing(self.engine) as conn:
                rows = chunks.read(conn, self.instance, start, end)
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
                # The hour's raw rows become one chunk per target, in the transaction that rolled it up.
                chunks.compact(conn, self.engine.dialect.name, self.instance, start, rows)
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
        kept = upkeep_partitions(self.engine, now, raw_retention)  # PostgreSQL: whole months go
        if kept is not None:
            deleted += kept.rows_dropped
        with writing(self.engine) as conn:
            if kept is None:
                res = conn.execute(results.delete().where(results.c.instance == self.instance, results.c.ts < limit))
                deleted += res.rowcount or 0
            c = result_chunks.c
            old_chunks = sa.and_(c.instance == self.instance, c.hour + 3600 <= limit)
            checks = sa.select(sa.func.coalesce(sa.func.sum(c.checks), 0)).where(old_chunks)
            deleted += int(conn.execute(checks).scalar_one())
            conn.execute(result_chunks.delete().where(old_chunks))
            if rollup_retention is not None:
                old = now - rollup_retention
                conn.execute(hourly.delete().where(hourly.c.instance == self.instance, hourly.c.hour < old))
                conn.execute(
                    hourly_values.delete().where(hourly_values.c.instance == self.instance, hourly_values.c.hour < old)
                )
        return deleted


def upkeep_partitions(engine: Engine, now: float, raw_retention: float) -> partitions.Upkeep | None:
    """PostgreSQL: make the coming months' partitions, and drop the months retention lets go that
    every live instance has rolled up (an instance silent for longer than the retention holds
    nothing back). DDL under the schema lock, so instances doing it at once agree."""
    if engine.dialect.name != "postgresql":
        return None
    with writing(engine) as conn:
        if not partitions.is_partitioned(conn, results.name):
            return None
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        seen = sa.select(daemon_runs.c.instance).where(daemon_runs.c.last_seen >= now - raw_retention)
        live = set(conn.execute(seen).scalars().all())
        q = sa.select(meta.c.instance, meta.c.value).where(meta.c.key == "rollup_done_until")
        marks = {instance: float(value) for instance, value in conn.execute(q)}
        drop_before: float | None = now - raw_retention
        for instance in live:
            mark = marks.get(instance)
            drop_before = None if mark is None or drop_before is None else min(drop_before, mark)
        return partitions.upkeep(conn, now, drop_before)


def _aggregate(rows: Iterable[chunks.RawRow], hour: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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
        data = row.data
        for name, value in clean(data.get("values", {})).items():
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
