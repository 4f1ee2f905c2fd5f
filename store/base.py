"""What every part of the store shares: the engine, this instance's name, its key/value rows,
and the raw results read back (for rollups and tests)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.schema import meta, results


class Tables:
    engine: Engine
    instance: str

    def results_between(self, start: float, end: float, target: str | None = None) -> list[sa.Row[Any]]:
        q = sa.select(results).where(results.c.instance == self.instance, results.c.ts >= start, results.c.ts < end)
        if target is not None:
            q = q.where(results.c.target == target)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(results.c.ts, results.c.id)))

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
