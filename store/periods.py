"""State changes written in bulk: close the old state's period, open the new one's, remember the state.

The day a backhaul is cut, hundreds of targets change state in one cycle. Written one change at a
time that was four statements each (thousands of round trips in one transaction); here a cycle's
changes take a handful of statements whatever their number: one executemany per step, and one
read that tells which periods are there already (a batch written again after its commit's answer
was lost must not open them twice).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from store.backends import insert_for
from store.records import PERIOD_KINDS, StateChange
from store.schema import outages, target_state

# Periods looked up per statement: well under SQLite's and PostgreSQL's bound-parameter limits.
_LOOKUP_CHUNK = 250


def rounds(changes: Sequence[StateChange]) -> Iterator[list[StateChange]]:
    """Consecutive runs of changes with distinct subjects, in order.

    A subject may change twice in one batch (the writer caught up on several cycles); its second
    change must see the first one's period, so it goes into the next round.
    """
    current: list[StateChange] = []
    seen: set[str] = set()
    for c in changes:
        if c.subject in seen:
            yield current
            current, seen = [], set()
        current.append(c)
        seen.add(c.subject)
    if current:
        yield current


def _existing(conn: sa.Connection, instance: str, opens: list[StateChange]) -> set[tuple[str, str, float]]:
    o = outages.c
    found: set[tuple[str, str, float]] = set()
    for i in range(0, len(opens), _LOOKUP_CHUNK):
        chunk = opens[i : i + _LOOKUP_CHUNK]
        q = sa.select(o.target, o.kind, o.started_at).where(
            o.instance == instance,
            sa.tuple_(o.target, o.kind, o.started_at).in_([(c.subject, c.new, c.start) for c in chunk]),
        )
        found.update((t, k, s) for t, k, s in conn.execute(q))
    return found


def write(conn: sa.Connection, dialect: str, instance: str, changes: Sequence[StateChange]) -> None:
    for batch in rounds(changes):
        _write_round(conn, dialect, instance, batch)


def _write_round(conn: sa.Connection, dialect: str, instance: str, batch: list[StateChange]) -> None:
    o = outages.c
    closes = [{"b_target": c.subject, "b_kind": c.old, "b_at": c.at} for c in batch if c.old in PERIOD_KINDS]
    if closes:
        conn.execute(
            outages.update()
            .where(
                o.instance == instance,
                o.target == sa.bindparam("b_target"),
                o.kind == sa.bindparam("b_kind"),
                o.ended_at.is_(None),
            )
            .values(ended_at=sa.bindparam("b_at")),
            closes,
        )
    opens = [c for c in batch if c.new in PERIOD_KINDS]
    there = _existing(conn, instance, opens) if opens else set()
    rows = [
        {
            "instance": instance,
            "target": c.subject,
            "kind": c.new,
            "started_at": c.start,
            "ended_at": None,
            "reason": c.reason[:32],
            "message": c.message[:1000],
        }
        for c in opens
        if (c.subject, c.new, c.start) not in there
    ]
    if rows:
        conn.execute(outages.insert(), rows)
    upsert = insert_for(dialect, target_state)
    now = time.time()
    new = upsert.excluded
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[target_state.c.instance, target_state.c.target],
            set_={"state": new.state, "since": new.since, "updated_at": new.updated_at},
        ),
        [
            {"instance": instance, "target": c.subject, "state": c.new, "since": c.start, "updated_at": now}
            for c in batch
        ],
    )
