"""What every part of the store shares: the engine, this instance's name, its key/value rows,
and the raw results read back (for rollups and tests)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import chunks
from store.backends import reading
from store.chunks import RawRow
from store.schema import meta


class Tables:
    engine: Engine
    instance: str

    def results_between(self, start: float, end: float, target: str | None = None) -> list[RawRow]:
        """Every stored check in [start, end), raw or chunked, oldest first."""
        with reading(self.engine) as conn:
            return chunks.read(conn, self.instance, start, end, None if target is None else [target])

    def get_meta(self, key: str) -> str | None:
        with reading(self.engine) as conn:
            return conn.execute(
                sa.select(meta.c.value).where(meta.c.instance == self.instance, meta.c.key == key)
            ).scalar_one_or_none()

    def _set_meta(self, conn: sa.Connection, key: str, value: str) -> None:
        done = conn.execute(
            meta.update().where(meta.c.instance == self.instance, meta.c.key == key).values(value=value)
        )
        if done.rowcount == 0:
            conn.execute(meta.insert().values(instance=self.instance, key=key, value=value))
