"""The ledger of the reports' deliveries (store.schema_deliveries): a row per month and recipient,
claimed before its message is handed to the server, so that no recipient gets a month twice.

States: ``pending`` (due at ``next_at``), ``sending`` (claimed by one process), ``sent``, ``failed``
(refused for good, or out of attempts), ``uncertain`` (its claimant stopped while the server held
the message: it may have been delivered, so it is never sent again by itself; an operator decides).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.backends import insert_for, reading, writing
from store.schema_deliveries import deliveries_t

PENDING, SENDING, SENT, FAILED, UNCERTAIN = "pending", "sending", "sent", "failed", "uncertain"
# A claim older than this belongs to a process that stopped while sending (the send's own
# deadline is far shorter: the SMTP timeout for each of a few exchanges).
CLAIM_TTL = 900.0


@dataclass(frozen=True)
class Delivery:
    id: int
    month: str
    recipient: str
    state: str
    attempts: int
    next_at: float
    last_error: str
    sent_at: float | None
    message_id: str


class Deliveries:
    def __init__(self, engine: Engine, scope: str) -> None:
        self.engine, self.scope = engine, scope

    def ensure(self, month: str, recipients: list[str], now: float) -> None:
        """A pending row for each recipient of ``month`` that has none (another instance may be
        adding the same at once: the unique key keeps one)."""
        if not recipients:
            return
        rows = [{"scope": self.scope, "month": month, "recipient": r, "state": PENDING, "attempts": 0, "next_at": now,
                 "claimed_by": "", "last_error": "", "message_id": ""} for r in recipients]  # fmt: skip
        insert = insert_for(self.engine.dialect.name, deliveries_t)
        with writing(self.engine) as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["scope", "month", "recipient"]), rows)

    def claim(self, month: str, recipient: str, me: str, now: float) -> Delivery | None:
        """The row, now ``sending`` under ``me``, if it is due; None if it is sent, failed, not due,
        or being sent by another process. A claim left by a process that stopped is marked
        uncertain, never taken over: its message may have reached the server."""
        d = deliveries_t.c
        q = sa.select(deliveries_t).where(d.scope == self.scope, d.month == month, d.recipient == recipient)
        with writing(self.engine) as conn:
            row = conn.execute(q).first()
            if row is None:
                return None
            # Each change is a compare-and-set on the state read: of two processes that read the
            # same row at once, one changes it and the other's UPDATE matches nothing (SQLite takes
            # no row lock on a SELECT; PostgreSQL would, but the same statement serves both).
            same = sa.and_(d.id == row.id, d.state == row.state, d.attempts == row.attempts)
            if row.state == SENDING and (row.claimed_at or 0.0) < now - CLAIM_TTL:
                conn.execute(deliveries_t.update().where(same).values(
                    state=UNCERTAIN, last_error=f"{row.claimed_by} stopped while sending"))  # fmt: skip
                return None
            if row.state != PENDING or row.next_at > now:
                return None
            won = conn.execute(deliveries_t.update().where(same).values(
                state=SENDING, claimed_by=me[:200], claimed_at=now, attempts=row.attempts + 1))  # fmt: skip
            if won.rowcount != 1:
                return None  # another process claimed it between our read and our write
            return _delivery(row, state=SENDING, attempts=row.attempts + 1)

    def settle(self, number: int, me: str, state: str, *, error: str = "", next_at: float | None = None,
               sent_at: float | None = None, message_id: str = "") -> bool:  # fmt: skip
        """Record how a claimed delivery ended; False if the claim was no longer ``me``'s."""
        d = deliveries_t.c
        values: dict[str, object] = {"state": state, "last_error": error[:2000], "message_id": message_id[:250]}
        if next_at is not None:
            values["next_at"] = next_at
        if sent_at is not None:
            values["sent_at"] = sent_at
        with writing(self.engine) as conn:
            done = conn.execute(deliveries_t.update().where(
                d.id == number, d.claimed_by == me[:200], d.state == SENDING).values(**values))  # fmt: skip
            return bool(done.rowcount)

    def listed(self, month: str | None = None) -> list[Delivery]:
        d = deliveries_t.c
        q = sa.select(deliveries_t).where(d.scope == self.scope)
        if month is not None:
            q = q.where(d.month == month)
        with reading(self.engine) as conn:
            return [_delivery(r) for r in conn.execute(q.order_by(d.month, d.recipient))]


def _delivery(row: sa.Row[object], **changed: object) -> Delivery:
    r = row._mapping
    fields = {k: r[k] for k in ("id", "month", "recipient", "state", "attempts", "next_at", "last_error", "sent_at",
                                "message_id")}  # fmt: skip
    return Delivery(**{**fields, **changed})
