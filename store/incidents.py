"""Incidents in the store: opened, updated and closed by an operator, each change kept with who
and when (incident_events), read back as domain values. Every write is one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.incidents import TEXT_MAX, Incident, IncidentError, IncidentEvent, check_text
from store.backends import reading, writing
from store.schema import incident_events, incidents_t


class Incidents:
    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine, self.instance = engine, instance

    def open(self, zones: Sequence[str], title: str, cause: str, ticket: str, by: str, at: float) -> int:
        """A new incident (already checked: domain.incidents.check_new); its id."""
        with writing(self.engine) as conn:
            values = {"instance": self.instance, "zones": ",".join(zones), "title": title, "cause": cause,
                      "ticket": ticket, "opened_at": at, "closed_at": None}  # fmt: skip
            new = conn.execute(incidents_t.insert().values(**values)).inserted_primary_key
            assert new is not None
            number = int(new[0])
            conn.execute(incident_events.insert().values(incident=number, at=at, by=by, kind="opened", text=title))
        return number

    def update(self, number: int, text: str, by: str, at: float) -> None:
        text = check_text("the update's text", text, TEXT_MAX)
        with writing(self.engine) as conn:
            self._open_one(conn, number)
            conn.execute(incident_events.insert().values(incident=number, at=at, by=by, kind="update", text=text))

    def close(self, number: int, by: str, at: float, text: str = "") -> None:
        text = check_text("the closing note", text, TEXT_MAX) if text.strip() else "cerrado"
        with writing(self.engine) as conn:
            self._open_one(conn, number)
            conn.execute(incidents_t.update().where(incidents_t.c.id == number).values(closed_at=at))
            conn.execute(incident_events.insert().values(incident=number, at=at, by=by, kind="closed", text=text))

    def _open_one(self, conn: sa.Connection, number: int) -> None:
        t = incidents_t.c
        row = conn.execute(
            sa.select(t.closed_at).where(t.id == number, t.instance == self.instance).with_for_update()
        ).first()
        if row is None:
            raise IncidentError(f"no incident {number} for instance {self.instance!r}")
        if row.closed_at is not None:
            raise IncidentError(f"incident {number} is closed already")

    def listed(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        open_only: bool = False,
        with_events: bool = True,
    ) -> list[Incident]:
        """Incidents, newest first: the open ones, and with ``since`` those closed after it too;
        with ``until``, only those opened before it. ``with_events``: their history as well."""
        t = incidents_t.c
        q = sa.select(incidents_t).where(t.instance == self.instance)
        if open_only:
            q = q.where(t.closed_at.is_(None))
        elif since is not None:
            q = q.where(sa.or_(t.closed_at.is_(None), t.closed_at >= since))
        if until is not None:
            q = q.where(t.opened_at < until)
        with reading(self.engine) as conn:
            rows = conn.execute(q.order_by(t.opened_at.desc(), t.id.desc())).all()
            ids = [r.id for r in rows]
            events: dict[int, list[IncidentEvent]] = {i: [] for i in ids}
            if ids and with_events:
                e = incident_events.c
                for ev in conn.execute(sa.select(incident_events).where(e.incident.in_(ids)).order_by(e.at, e.id)):
                    events[ev.incident].append(IncidentEvent(ev.at, ev.by, ev.kind, ev.text))
        out = []
        for r in rows:
            zones = tuple(z for z in r.zones.split(",") if z)
            out.append(Incident(r.id, zones, r.title, r.cause, r.ticket, r.opened_at, r.closed_at, tuple(events[r.id])))
        return out
