"""Maintenance windows added from the command line, kept with who added or cancelled them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.windows import StoredWindow, WindowError
from store.backends import reading, writing
from store.schema import maintenance_t


class Windows:
    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine, self.instance = engine, instance

    def add(
        self, zones: Sequence[str], targets: Sequence[str], start: float, end: float, reason: str, by: str, at: float
    ) -> int:
        """A new window (already checked: domain.windows.check_window); its id. The same zones,
        targets and times twice is refused (a command run again by mistake)."""
        m = maintenance_t.c
        values = {"instance": self.instance, "zones": ",".join(zones), "targets": ",".join(targets),
                  "start": start, "end": end, "reason": reason, "created_at": at, "created_by": by}  # fmt: skip
        with writing(self.engine) as conn:
            same = sa.select(m.id).where(
                m.instance == self.instance, m.zones == values["zones"], m.targets == values["targets"],
                m.start == start, m.end == end, m.cancelled_at.is_(None),
            )  # fmt: skip
            twin = conn.execute(same).scalar_one_or_none()
            if twin is not None:
                raise WindowError(f"window {twin} already covers the same zones, targets and times")
            new = conn.execute(maintenance_t.insert().values(**values)).inserted_primary_key
        assert new is not None
        return int(new[0])

    def cancel(self, number: int, by: str, at: float) -> None:
        m = maintenance_t.c
        with writing(self.engine) as conn:
            row = conn.execute(
                sa.select(m.cancelled_at).where(m.id == number, m.instance == self.instance).with_for_update()
            ).first()
            if row is None:
                raise WindowError(f"no maintenance window {number} for instance {self.instance!r}")
            if row.cancelled_at is not None:
                raise WindowError(f"maintenance window {number} is cancelled already")
            conn.execute(maintenance_t.update().where(m.id == number).values(cancelled_at=at, cancelled_by=by))

    def listed(self, *, ending_after: float | None = None, with_cancelled: bool = False) -> list[StoredWindow]:
        """Windows by start: those not over at ``ending_after`` (every one without it)."""
        m = maintenance_t.c
        q = sa.select(maintenance_t).where(m.instance == self.instance)
        if ending_after is not None:
            q = q.where(m.end > ending_after)
        if not with_cancelled:
            q = q.where(m.cancelled_at.is_(None))
        with reading(self.engine) as conn:
            rows = conn.execute(q.order_by(m.start, m.id)).all()
        out = []
        for r in rows:
            zones, targets = tuple(z for z in r.zones.split(",") if z), tuple(t for t in r.targets.split(",") if t)
            who = (r.created_at, r.created_by, r.cancelled_at, r.cancelled_by)
            out.append(StoredWindow(r.id, zones, targets, r.start, r.end, r.reason, *who))
        return out
