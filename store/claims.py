"""Singleton job claims: a period of a job runs once, on whichever instance claims it.

A claim is a row whose primary key is (job, period), inserted with ON CONFLICT DO NOTHING: whoever
inserts it runs the period, for ever. Claims made under the lease carry its epoch, the fencing
token (``store.lease``); a claim left "running" by a holder that was fenced out may be retaken by
the new leader for idempotent jobs (a month close, rollups), never for drills, whose interrupted
runs are rolled back instead (``orphans``).

A database that cannot be reached answers "not now" (no claim, nothing owed, fenced out) and steps
the lease down: every method maps its errors once, in ``_fenced``, and none raises them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from kernel.errors import short
from store.backends import insert_for
from store.schema import DISRUPTING, DONE, DUE, FAILED, RUNNING, STOPPED, job_claims, members

if TYPE_CHECKING:
    from store.lease import Lease

log = logging.getLogger(__name__)

__all__ = ["DUE", "RUNNING", "Claim", "Claims", "Orphan"]

T = TypeVar("T")


@dataclass(frozen=True)
class Claim:
    job: str
    period: str
    epoch: int


@dataclass(frozen=True)
class Orphan:
    """A claimed period whose holder lost the lease and stopped beating while it ran."""

    job: str
    period: str
    holder: str
    epoch: int
    disrupting: bool  # a disruptive step had passed the fence: the run needs its rollback


class Claims:
    """The claims of one lease keeper (its session, its lock, its epoch)."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease

    def claim(self, job: str, period: str, *, retake: bool = False, lead: bool = True) -> Claim | None:
        """The right to run ``job`` for ``period``, once; None if the period was claimed already.

        ``lead``: only the lease holder may claim, and the claim carries its epoch (fencing);
        ``retake`` then takes over a run left "running" by an earlier epoch. Without ``lead``
        (work scoped to an HA group, not to the whole database) any member may claim, and
        ``retake`` takes over a run whose claimant's heartbeat stopped."""

        def insert(conn: sa.Connection, epoch: int) -> Claim | None:
            values = {
                "job": job, "period": period, "holder": self.lease.me.holder, "epoch": epoch,
                "claimed_at": self.lease.now, "state": RUNNING, "detail": "",
            }  # fmt: skip
            stmt = insert_for(self.lease.dialect, job_claims).values(**values).on_conflict_do_nothing()
            got = conn.execute(stmt.returning(job_claims.c.job)).first()
            if got is None:
                c = job_claims.c
                owed = job_claims.update().where(c.job == job, c.period == period, c.state == DUE)
                got = conn.execute(owed.values(**values).returning(c.job)).first()
            if got is None and retake:
                got = conn.execute(self._retake(job, period, epoch, lead)).first()
            return Claim(job, period, epoch) if got is not None else None

        return self._fenced(insert, None, lead=lead)

    def owe(self, job: str, period: str) -> None:
        """Record that ``job``'s ``period`` fell due while this process did not lead (nothing if
        someone claimed it already). Any member may; the leader settles it (``owed``)."""
        values = {
            "job": job, "period": period, "holder": "", "epoch": 0, "claimed_at": self.lease.now, "state": DUE,
            "detail": f"seen due by {self.lease.me.holder}"[:500],
        }  # fmt: skip
        try:
            with self.lease.transaction() as conn:
                conn.execute(insert_for(self.lease.dialect, job_claims).values(**values).on_conflict_do_nothing())
        except SQLAlchemyError as exc:
            log.warning("could not record %s %s as due: %s", job, period, short(exc))

    def owed(self, prefix: str) -> list[tuple[str, str]]:
        """(job, period) of ``prefix`` jobs seen due and claimed by nobody; seen by the leader only."""
        c = job_claims.c
        q = sa.select(c.job, c.period).where(c.job.startswith(prefix, autoescape=True), c.state == DUE)
        return self._fenced(lambda conn, _epoch: _pairs(conn, q), [])

    def stale(self, prefix: str, *, lead: bool) -> list[tuple[str, str]]:
        """(job, period) of ``prefix`` jobs left running by a holder that is gone, which ``claim``
        with ``retake`` would take over now: by an earlier epoch (``lead``, seen by the leader
        only), or by a process whose heartbeat stopped a lease ago."""
        c = job_claims.c

        def find(conn: sa.Connection, epoch: int) -> list[tuple[str, str]]:
            running = (c.job.startswith(prefix, autoescape=True), c.state == RUNNING)
            return _pairs(conn, sa.select(c.job, c.period).where(*running, self._gone(epoch, lead)))

        return self._fenced(find, [], lead=lead)

    def fence(self, claim: Claim) -> str | None:
        """None while ``claim``'s epoch still holds the lease; otherwise why it does not. A claim
        that passes is marked disrupting, so a leader that takes over after a crash knows its
        run needs a rollback."""
        c = job_claims.c
        try:
            with self.lease.transaction() as conn:
                epoch = self.lease.fenced_epoch(conn)
                if epoch == claim.epoch:
                    conn.execute(
                        job_claims.update()
                        .where(c.job == claim.job, c.period == claim.period, c.epoch == claim.epoch, c.detail == "")
                        .values(detail=DISRUPTING)
                    )
        except SQLAlchemyError as exc:
            self.lease.step_down(f"cannot reach the database: {short(exc)}")
            return f"cannot reach the database: {short(exc)}"
        if epoch != claim.epoch:
            return f"the leader lease is no longer held at epoch {claim.epoch}"
        return None

    def orphans(self, prefix: str) -> list[Orphan]:
        """Periods of ``prefix`` jobs left running by an earlier epoch whose holder has stopped:
        killed or cut off (no heartbeat for three leases), or this instance's own earlier process
        (instance names are unique per process, so a restart need not wait for the old heartbeat
        to age). Seen by the leader only."""
        c, me = job_claims.c, self.lease.me
        gone = sa.or_(
            c.holder.not_in(self._beating(3 * self.lease.ttl)),
            sa.and_(c.holder.startswith(me.instance + "/", autoescape=True), c.holder != me.holder),
        )

        def find(conn: sa.Connection, epoch: int) -> list[Orphan]:
            q = sa.select(c.job, c.period, c.holder, c.epoch, c.detail).where(
                c.job.startswith(prefix, autoescape=True), c.state == RUNNING, c.epoch < epoch, gone,
            )  # fmt: skip
            return [Orphan(r.job, r.period, r.holder, int(r.epoch), r.detail == DISRUPTING) for r in conn.execute(q)]

        return self._fenced(find, [])

    def state_of(self, job: str, period: str) -> str | None:
        """How ``job``'s ``period`` stands (running, done, failed), or None if nobody claimed it."""
        c = job_claims.c
        with self.lease.engine.connect() as conn:
            return conn.execute(sa.select(c.state).where(c.job == job, c.period == period)).scalar_one_or_none()

    def finish(self, claim: Claim, ok: bool, detail: str = "") -> None:
        """Record how the claimed period ended (only by the epoch that claimed it)."""
        c = job_claims.c
        mine = (c.job == claim.job, c.period == claim.period, c.epoch == claim.epoch)
        ended = {"state": DONE if ok else FAILED, "finished_at": self.lease.now, "detail": detail[:500]}
        try:
            with self.lease.transaction() as conn:
                conn.execute(job_claims.update().where(*mine).values(**ended))
        except SQLAlchemyError as exc:
            log.warning("could not record the end of %s %s: %s", claim.job, claim.period, short(exc))

    # -- internals --------------------------------------------------------------

    def _fenced(self, work: Callable[[sa.Connection, int], T], otherwise: T, *, lead: bool = True) -> T:
        """``work`` in one transaction of the keeper's session, given the lease's epoch (``lead``:
        only while this process holds it; else epoch 0); ``otherwise`` when it does not, or when
        the database cannot be reached, which steps the lease down."""
        try:
            with self.lease.transaction() as conn:
                epoch = self.lease.fenced_epoch(conn) if lead else 0
                return otherwise if epoch is None else work(conn, epoch)
        except SQLAlchemyError as exc:
            self.lease.step_down(f"cannot reach the database: {short(exc)}")
            return otherwise

    def _retake(self, job: str, period: str, epoch: int, lead: bool) -> Any:
        c = job_claims.c
        return (
            job_claims.update()
            .where(c.job == job, c.period == period, c.state == RUNNING, self._gone(epoch, lead))
            .values(holder=self.lease.me.holder, epoch=epoch, claimed_at=self.lease.now)
            .returning(c.job)
        )

    def _gone(self, epoch: int, lead: bool) -> Any:
        """A running claim whose holder is gone: claimed at an earlier epoch (work the leader does),
        or by another process that stopped beating a lease ago (heartbeats come three times a
        lease) or stopped cleanly."""
        c = job_claims.c
        if lead:
            return c.epoch < epoch
        return sa.and_(c.holder != self.lease.me.holder, c.holder.not_in(self._beating(self.lease.ttl)))

    def _beating(self, within: float) -> Any:
        """Holders that beat within ``within`` seconds and did not stop."""
        m = members.c
        return sa.select(m.holder).where(m.last_seen > self.lease.now - within, m.role != STOPPED)


def _pairs(conn: sa.Connection, q: Any) -> list[tuple[str, str]]:
    return [(r.job, r.period) for r in conn.execute(q.order_by(job_claims.c.period))]
