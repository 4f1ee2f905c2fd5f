"""Corrections after the fact (domain.corrections), kept with who made them, when and why; only
ever added (store.schema_corrections)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.corrections import Correction
from store.backends import reading, writing
from store.schema_corrections import corrections_t


class Corrections:
    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine, self.instance = engine, instance

    def add(self, target: str, start: float, end: float, action: str, cause: str, text: str, measured: str,
            by: str, at: float) -> int:  # fmt: skip
        """A new correction (checked by its command); its id."""
        values = {"instance": self.instance, "target": target, "start": start, "end": end, "action": action,
                  "cause": cause, "text": text, "measured": measured[:200], "created_by": by[:100],
                  "created_at": at}  # fmt: skip
        with writing(self.engine) as conn:
            new = conn.execute(corrections_t.insert().values(**values)).inserted_primary_key
        assert new is not None
        return int(new[0])

    def between(self, start: float, end: float) -> list[Correction]:
        """The corrections of spans overlapping [start, end), oldest first."""
        c = corrections_t.c
        q = sa.select(corrections_t).where(c.instance == self.instance, c.start < end, c.end > start)
        with reading(self.engine) as conn:
            rows = conn.execute(q.order_by(c.created_at, c.id)).all()
        return [Correction(r.id, r.target, r.start, r.end, r.action, r.cause, r.text, r.measured, r.created_by,
                           r.created_at) for r in rows]  # fmt: skip
