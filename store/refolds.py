"""Spans of zones judged again once their agent's late results or reboot are known (domain.refold):
queued with the batch that calls for them (``queue``), done by each instance that stores the
zone's periods (``run``, on its store writer thread, so never between a cycle's periods and the
next), each in one transaction that rewrites the periods and deletes its row."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.agents import as_result
from domain.availability import Period
from domain.refold import CentralSample, Span, replay, splice
from domain.vantage import hindsight_window
from domain.zones import Zone
from store.backends import reading, writing
from store.schema import members, outages, zone_samples_t
from store.schema_agents import agent_results, zone_refolds

log = logging.getLogger("vigia")

# Spans done per call: a burst of late batches is worked off over a few cycles, each short.
PER_RUN = 50
REFOLDED = "judged again with the zone agent's results"


def instances_of(conn: sa.Connection, owner: str, receiving: str) -> list[str]:
    """The instances storing periods for an agent owner: the one that received the batch and
    every other member of the owner's HA group."""
    m = members.c
    found = conn.execute(sa.select(m.instance).where(m.ha_group == owner).distinct()).scalars().all()
    return sorted({*found, receiving})


def queue(conn: sa.Connection, owner: str, receiving: str, spans: Sequence[Span], at: float) -> None:
    if not spans:
        return
    rows = [{"instance": i, "owner": owner, "zone": s.zone, "start": s.start, "end": s.end, "rebooted": s.rebooted,
             "requested_at": at} for i in instances_of(conn, owner, receiving) for s in spans]  # fmt: skip
    conn.execute(zone_refolds.insert(), rows)


def run(engine: Engine, instance: str, zones: Mapping[str, Zone]) -> int:
    """Do this instance's queued refolds (at most PER_RUN); returns how many were done.

    A span that cannot be judged (a stored row that does not read back, a bug) is logged and left
    queued, and the others are done: one bad span must not hold every zone's history behind it
    (retention removes it with the agent's rows, domain.agents.MAX_AGE). The database itself
    failing (gone, full, locked) ends the run: the spans wait for the next cycle."""
    r = zone_refolds.c
    with reading(engine) as conn:
        rows = conn.execute(sa.select(zone_refolds).where(r.instance == instance).order_by(r.id).limit(PER_RUN)).all()
    done = 0
    for row in rows:
        span = Span(row.zone, row.start, row.end, bool(row.rebooted))
        try:
            with writing(engine) as conn:
                zone = zones.get(row.zone)
                if zone is not None:  # a zone no longer configured: nothing of it to judge
                    _refold(conn, instance, row.owner, zone, span)
                conn.execute(zone_refolds.delete().where(r.id == row.id))
        except sa.exc.OperationalError:
            raise
        except Exception as exc:  # one span's trouble, not the store's: the next spans go on
            log.error("zone %s: the span %.0f-%.0f cannot be judged again (left queued): %s: %s", row.zone,
                      span.start, span.end, type(exc).__name__, exc)  # fmt: skip
            continue
        done += 1
    return done


def _refold(conn: sa.Connection, instance: str, owner: str, zone: Zone, span: Span) -> None:
    z, a, o = zone_samples_t.c, agent_results.c, outages.c
    rows = conn.execute(
        sa.select(z.ts, z.verdict, z.central, z.status, z.in_hours)
        .where(z.instance == instance, z.zone == zone.id, z.ts >= span.start, z.ts <= span.end)
        .order_by(z.ts)
    ).all()
    samples = [CentralSample(r.ts, r.central or r.verdict, r.status, bool(r.in_hours)) for r in rows]
    verdict_at = {r.ts: r.verdict for r in rows}
    if not samples:
        return
    window = hindsight_window(zone.agent.interval) if zone.agent is not None else 0.0
    inside = [
        as_result(
            row.check, row.probe, row.ts, row.duration, row.success, row.reason, row.message, json.loads(row.data)
        )
        for row in conn.execute(
            sa.select(a.check, a.probe, a.ts, a.duration, a.success, a.reason, a.message, a.data).where(
                a.owner == owner, a.zone == zone.id, a.ts >= span.start - window, a.ts <= span.end
            )
        )
    ]
    there = sa.and_(o.instance == instance, o.target == zone.id, o.started_at <= span.end,
                    sa.or_(o.ended_at.is_(None), o.ended_at >= span.start))  # fmt: skip
    old = conn.execute(sa.select(o.id, o.kind, o.started_at, o.ended_at, o.reason, o.message).where(there)).all()
    stored = sorted((Period(x.kind, x.started_at, x.ended_at, x.reason) for x in old), key=lambda p: p.start)
    judged = replay(zone, span, samples, inside, stored)
    periods = splice(stored, judged.periods, span.start, span.end)
    messages = {(x.kind, x.started_at): x.message for x in old}
    conn.execute(outages.delete().where(o.id.in_([x.id for x in old])))
    if periods:
        conn.execute(outages.insert(), [
            {"instance": instance, "target": zone.id, "kind": p.kind, "started_at": p.start, "ended_at": p.end,
             "reason": p.reason[:32], "message": messages.get((p.kind, p.start), REFOLDED)[:1000]}
            for p in periods
        ])  # fmt: skip
    changed = [{"t": ts, "v": v} for ts, v in judged.verdicts.items() if v != verdict_at.get(ts)]
    if changed:  # the central verdict kept beside the new one (SET reads the row as it was)
        conn.execute(
            zone_samples_t.update()
            .where(z.instance == instance, z.zone == zone.id, z.ts == sa.bindparam("t"))
            .values(central=sa.func.coalesce(z.central, z.verdict), verdict=sa.bindparam("v")),
            changed,
        )
    log.info("zone %s judged again over %.0f s with its agent's results (%d periods now)", zone.id,
             span.end - span.start, len(periods))  # fmt: skip
