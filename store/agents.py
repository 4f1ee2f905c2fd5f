"""Zone agents in the store: registered with a token kept hashed, revoked, and their batches
stored exactly once.

A batch is stored in one transaction: its results (ON CONFLICT DO NOTHING on the unique
(owner, zone, seq), so a replay, or the same batch at two instances, stores each result once)
and the agent's row (last push, the clock skew measured, version, boot time, drops reported).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.agents import AgentBatch, AgentResult, new_token, offset, token_hash
from domain.refold import spans_of
from kernel.errors import InputError
from kernel.text import storable
from store import refolds
from store.backends import insert_for, reading, writing
from store.schema_agents import agent_results, agents_t, zone_refolds


@dataclass(frozen=True)
class AgentRow:
    zone: str
    created_at: float
    created_by: str
    revoked_at: float | None
    last_push_at: float | None
    last_seq: int
    skew_seconds: float
    version: str
    boot_time: float | None
    clock_synced: bool | None
    dropped_total: int
    backlog: int


@dataclass(frozen=True)
class Stored:
    """What a batch did: results new to the store, results it had already, the highest sequence
    now stored (what the agent may forget)."""

    new: int
    duplicates: int
    last_seq: int


class Agents:
    def __init__(self, engine: Engine, owner: str, instance: str | None = None) -> None:
        # owner: whose agents (the HA group, or the instance); instance: the one receiving batches
        self.engine, self.owner, self.instance = engine, owner, instance or owner

    def add(self, zone: str, by: str, at: float) -> str:
        """A new token for ``zone``'s agent, returned once (only its hash is kept); a revoked
        agent of the zone is given a new one, a live one is refused."""
        token = new_token()
        t = agents_t.c
        with writing(self.engine) as conn:
            row = conn.execute(
                sa.select(t.revoked_at).where(t.owner == self.owner, t.zone == zone).with_for_update()
            ).first()
            if row is not None and row.revoked_at is None:
                raise InputError(f"zone {zone!r} has an agent already: revoke it first (vigia agent revoke {zone})")
            values = {"token_hash": token_hash(token), "created_at": at, "created_by": by, "revoked_at": None,
                      "revoked_by": None}  # fmt: skip
            if row is None:
                conn.execute(agents_t.insert().values(owner=self.owner, zone=zone, **values))
            else:
                conn.execute(agents_t.update().where(t.owner == self.owner, t.zone == zone).values(**values))
        return token

    def revoke(self, zone: str, by: str, at: float) -> None:
        t = agents_t.c
        with writing(self.engine) as conn:
            done = conn.execute(
                agents_t.update()
                .where(t.owner == self.owner, t.zone == zone, t.revoked_at.is_(None))
                .values(revoked_at=at, revoked_by=by)
            ).rowcount
        if not done:
            raise InputError(f"zone {zone!r} has no agent to revoke")

    def tokens(self) -> dict[str, str]:
        """Each live agent's token hash by zone: what the ingestion endpoint checks against."""
        t = agents_t.c
        with reading(self.engine) as conn:
            rows = conn.execute(
                sa.select(t.zone, t.token_hash).where(t.owner == self.owner, t.revoked_at.is_(None))
            ).all()
        return {r.zone: r.token_hash for r in rows}

    def forget_before(self, cutoff: float) -> int:
        """Retention: this owner's agent results measured before ``cutoff`` go, and any span still
        queued from before it (a member that left the group never takes its own). Returns the
        results deleted."""
        a, q = agent_results.c, zone_refolds.c
        with writing(self.engine) as conn:
            gone = conn.execute(agent_results.delete().where(a.owner == self.owner, a.ts < cutoff)).rowcount or 0
            conn.execute(zone_refolds.delete().where(q.owner == self.owner, q.requested_at < cutoff))
        return int(gone)

    def listed(self) -> list[AgentRow]:
        t = agents_t.c
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(agents_t).where(t.owner == self.owner).order_by(t.zone)).all()
        return [
            AgentRow(r.zone, r.created_at, r.created_by, r.revoked_at, r.last_push_at, int(r.last_seq or 0),
                     float(r.skew_seconds or 0.0), r.version or "", r.boot_time, r.clock_synced,
                     int(r.dropped_total or 0), int(r.backlog or 0))
            for r in rows
        ]  # fmt: skip

    def store(self, batch: AgentBatch, results: Sequence[tuple[AgentResult, float]], *, received_at: float,
              skew: float, late_after: float | None = None) -> Stored:  # fmt: skip
        """One batch, its results at their corrected times: stored once, the agent's row updated,
        and, in the same transaction, the spans its late results or a reboot call to be judged
        again (``late_after``: seconds after which a result is late, domain.vantage.late_after; None: the
        zone has no agent configured)."""
        # The agent's texts as a store can keep them (kernel.text.storable): on PostgreSQL the rows go
        # as one JSON document, and a NUL escaped in it is refused as soon as it becomes text.
        rows = [
            {"seq": r.seq, "ts": at, "check": r.check, "probe": r.probe, "duration": r.duration, "success": r.success,
             "reason": storable(r.reason), "message": storable(r.message),
             "data": {"values": r.values, "labels": {k: storable(v) for k, v in r.labels.items()}}}
            for r, at in results
        ]  # fmt: skip
        top = max((r.seq for r, _ in results), default=0)
        with writing(self.engine) as conn:
            shift = offset(batch, received_at)  # the boot time is kept on the centre's clock
            mine = {"o": self.owner, "z": batch.zone}
            prior = conn.execute(_PRIOR, mine).first()
            new = _insert(conn, self.owner, batch.zone, received_at, rows) if rows else 0
            conn.execute(_PUSHED, {**mine, "at": received_at, "top": top, "skew": skew, "version": batch.version,
                                   "boot": batch.boot_time + shift, "synced": batch.clock_synced,
                                   "dropped": batch.dropped, "backlog": batch.backlog})  # fmt: skip
            if late_after is not None and prior is not None and new:
                spans = spans_of(batch.zone, [at for _, at in results], received_at, late_after,
                                 boot_at=batch.boot_time + shift, prior_boot_at=prior.boot_time,
                                 prior_push_at=prior.last_push_at)  # fmt: skip
                refolds.queue(conn, self.owner, self.instance, spans, received_at)
        return Stored(new, len(rows) - new, top)


# Built once: a batch pays for no statement construction (a thousand agents a minute).
_t = agents_t.c
_PRIOR = (
    sa.select(_t.boot_time, _t.last_push_at)
    .where(_t.owner == sa.bindparam("o"), _t.zone == sa.bindparam("z"))
    .with_for_update()
)
_PUSHED = (
    agents_t.update()
    .where(_t.owner == sa.bindparam("o"), _t.zone == sa.bindparam("z"))
    .values(last_push_at=sa.bindparam("at"), skew_seconds=sa.bindparam("skew"), version=sa.bindparam("version"),
            last_seq=sa.case((_t.last_seq < sa.bindparam("top"), sa.bindparam("top")), else_=_t.last_seq),
            boot_time=sa.bindparam("boot"), clock_synced=sa.bindparam("synced"),
            dropped_total=_t.dropped_total + sa.bindparam("dropped"), backlog=sa.bindparam("backlog"))
)  # fmt: skip

# PostgreSQL: a batch's rows as one JSON parameter, spread by json_to_recordset. The multi-row
# VALUES form costs the driver a parse of a statement with thousands of placeholders per batch
# (psycopg caches no statement that long): most of the centre's CPU per result.
_PG_INSERT = sa.text("""
    INSERT INTO agent_results (owner, zone, seq, ts, received_at, "check", probe, duration, success, reason,
                               message, data)
    SELECT :owner, :zone, x.seq, x.ts, :received_at, x."check", x.probe, x.duration, x.success, x.reason,
           x.message, x.data::text
    FROM json_to_recordset(CAST(:rows AS json)) AS x(seq bigint, ts double precision, "check" text, probe text,
         duration double precision, success boolean, reason text, message text, data json)
    ON CONFLICT (owner, zone, seq) DO NOTHING
    RETURNING seq
""")


def _insert(conn: sa.Connection, owner: str, zone: str, received_at: float, rows: list[dict[str, object]]) -> int:
    """The rows new to the store, inserted; how many (RETURNING counts them: executemany's
    rowcount is not reliable across drivers)."""
    if conn.dialect.name == "postgresql":
        text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
        params = {"owner": owner, "zone": zone, "received_at": received_at, "rows": text}
        return len(conn.execute(_PG_INSERT, params).all())
    full = [{**r, "owner": owner, "zone": zone, "received_at": received_at,
             "data": json.dumps(r["data"], separators=(",", ":"))} for r in rows]  # fmt: skip
    insert = insert_for(conn.dialect.name, agent_results).on_conflict_do_nothing(
        index_elements=["owner", "zone", "seq"]
    )
    return len(conn.execute(insert.returning(agent_results.c.seq), full).all())
