"""The leader lease and singleton job claims, in the database every instance shares.

One process, the leader, holds a lease row: holder, epoch and expiry on the *database's* clock,
renewed on a timer. The epoch grows by one at every change of holder and is the fencing token:
each claim and each disruptive drill step is checked against it in the database, so a process
that lost the lease (paused, partitioned, its session killed) cannot act on a stale belief.

A singleton job's period runs once because its claim is a row whose primary key is
(job, period), inserted with ON CONFLICT DO NOTHING: whoever inserts it runs the period, for
ever. A claim left "running" by a holder that was fenced out may be retaken by the new leader
for idempotent jobs (a month close, rollups); never for drills, whose interrupted runs are
rolled back instead.

On PostgreSQL the lease keeper also holds a session advisory lock, as a fast path: only the
lock's holder may hold the lease, and the lock is freed the moment the holder's session ends,
so a follower that gets it takes the lease over without waiting for the expiry. It is only a
fast path: every decision is still fenced by the lease row and its epoch.
(Session advisory locks do not survive PgBouncer in transaction mode: set
``cluster.advisory_locks: false`` there and failover waits for the expiry.)

Every method takes the keeper's own connection under one lock: ticks come from the scheduler,
claims from job threads.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kernel.errors import short
from store.schema import LEADER_LOCK, db_now, insert_for, job_claims, leases, members

log = logging.getLogger(__name__)

LEASE = "leader"
RUNNING, DONE, FAILED = "running", "done", "failed"
# A period an instance saw fall due while it did not lead (the leader killed at the due second): the
# claim of whoever runs it takes the row over; a leader that finds it still due runs it late or
# records it missed, so that no period passes unaccounted for.
DUE = "due"
# A running claim's detail once a disruptive step passed its fence.
DISRUPTING = "disrupting"
LEADER, FOLLOWER, STOPPED = "leader", "follower", "stopped"


@dataclass(frozen=True)
class Identity:
    """One vigia process: ``holder`` is unique to it (a restarted process is a new holder)."""

    holder: str
    instance: str
    ha_group: str | None
    host: str
    pid: int
    version: str

    @classmethod
    def mine(cls, instance: str, ha_group: str | None, version: str) -> Identity:
        host, pid = socket.gethostname(), os.getpid()
        return cls(f"{instance}/{host}/{pid}/{secrets.token_hex(4)}", instance, ha_group, host, pid, version)


@dataclass(frozen=True)
class Standing:
    """What the last tick found: whether this process leads, at which epoch, and who else does."""

    leader: bool
    epoch: int | None
    holder: str | None
    expires_at: float | None  # database clock
    reason: str = ""
    reachable: bool = True  # False: the database could not be reached at all
    alive: int = 0  # processes with a recent heartbeat (three leases), this one included


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


@dataclass(frozen=True)
class Member:
    who: Identity
    role: str
    epoch: int | None
    heartbeat_age: float


# Heartbeat rows of processes silent this long are pruned by the leader (`vigia instances --all`
# shows stopped processes until then).
FORGET_AFTER = 7 * 86400.0


class Lease:
    def __init__(self, engine: Engine, me: Identity, *, ttl: float = 15.0, advisory: bool = True) -> None:
        self.engine = engine
        self.me = me
        self.ttl = ttl
        self.dialect = engine.dialect.name
        self.advisory = advisory and self.dialect == "postgresql"
        self.standing = Standing(False, None, None, None, "not tried yet")
        self._now = db_now(self.dialect)
        self._conn: sa.Connection | None = None
        self._valid_until = 0.0  # monotonic: a conservative local bound on the lease
        self._lock = threading.RLock()

    # -- the timer -----------------------------------------------------------

    def tick(self) -> Standing:
        """Renew the lease (or take it if free), beat the heartbeat, count who is alive. Any
        database error steps down."""
        with self._lock:
            sent = time.monotonic()
            try:
                fast = self._try_advisory(self._session())
                with self._transaction() as conn:
                    row = self._acquire(conn, fast)
                    if row is not None:
                        standing = Standing(True, int(row.epoch), self.me.holder, float(row.expires_at))
                    else:
                        standing = self._other(conn)
                    self._beat(conn, standing)
                    standing = replace(standing, alive=self._alive(conn, standing.leader))
            except SQLAlchemyError as exc:
                self._drop_session()
                standing = Standing(False, None, None, None, f"cannot reach the database: {short(exc)}", False)
            # The lease runs ttl from the database's "now", which came after ``sent``: ending the
            # local bound a margin before sent + ttl is on the safe side of any delay.
            self._valid_until = sent + self.ttl * 0.8 if standing.leader else 0.0
            self._note(standing)
            return standing

    def valid(self) -> bool:
        """This process holds the lease as far as it knows (no database round trip)."""
        return self.standing.leader and time.monotonic() < self._valid_until

    def release(self) -> None:
        """A clean stop: the lease expires now (a follower takes over at its next tick)."""
        with self._lock:
            try:
                with self._transaction() as conn:
                    mine = leases.c.holder == self.me.holder
                    conn.execute(leases.update().where(leases.c.name == LEASE, mine).values(expires_at=self._now))
                    stopped = {"role": STOPPED, "epoch": None}
                    conn.execute(members.update().where(members.c.holder == self.me.holder).values(**stopped))
            except SQLAlchemyError as exc:
                log.warning("could not release the leader lease: %s", short(exc))
            self._drop_session()
            self.standing = Standing(False, None, None, None, "stopped")
            self._valid_until = 0.0

    # -- singleton work ------------------------------------------------------

    def claim(self, job: str, period: str, *, retake: bool = False, lead: bool = True) -> Claim | None:
        """The right to run ``job`` for ``period``, once; None if the period was claimed already.

        ``lead``: only the lease holder may claim, and the claim carries its epoch (fencing);
        ``retake`` then takes over a run left "running" by an earlier epoch. Without ``lead``
        (work scoped to an HA group, not to the whole database) any member may claim, and
        ``retake`` takes over a run whose claimant's heartbeat stopped."""
        try:
            with self._transaction() as conn:
                epoch = self._fenced_epoch(conn) if lead else 0
                if epoch is None:
                    return None
                values = {
                    "job": job, "period": period, "holder": self.me.holder, "epoch": epoch,
                    "claimed_at": self._now, "state": RUNNING, "detail": "",
                }  # fmt: skip
                stmt = insert_for(self.dialect, job_claims).values(**values).on_conflict_do_nothing()
                got = conn.execute(stmt.returning(job_claims.c.job)).first()
                if got is None:
                    c = job_claims.c
                    owed = job_claims.update().where(c.job == job, c.period == period, c.state == DUE)
                    got = conn.execute(owed.values(**values).returning(c.job)).first()
                if got is None and retake:
                    got = conn.execute(self._retake(job, period, epoch, lead)).first()
                return Claim(job, period, epoch) if got is not None else None
        except SQLAlchemyError as exc:
            self._step_down(f"cannot reach the database: {short(exc)}")
            return None

    def _retake(self, job: str, period: str, epoch: int, lead: bool) -> Any:
        c = job_claims.c
        return (
            job_claims.update()
            .where(c.job == job, c.period == period, c.state == RUNNING, self._gone(epoch, lead))
            .values(holder=self.me.holder, epoch=epoch, claimed_at=self._now)
            .returning(c.job)
        )

    def _gone(self, epoch: int, lead: bool) -> Any:
        """A running claim whose holder is gone: claimed at an earlier epoch (work the leader does),
        or by another process that stopped beating a lease ago (heartbeats come three times a
        lease) or stopped cleanly."""
        c = job_claims.c
        if lead:
            return c.epoch < epoch
        beating = sa.select(members.c.holder).where(
            members.c.last_seen > self._now - self.ttl, members.c.role != STOPPED
        )
        return sa.and_(c.holder != self.me.holder, c.holder.not_in(beating))

    def owe(self, job: str, period: str) -> None:
        """Record that ``job``'s ``period`` fell due while this process did not lead (nothing if
        someone claimed it already). Any member may; the leader settles it (``owed``)."""
        values = {
            "job": job, "period": period, "holder": "", "epoch": 0, "claimed_at": self._now, "state": DUE,
            "detail": f"seen due by {self.me.holder}"[:500],
        }  # fmt: skip
        try:
            with self._transaction() as conn:
                conn.execute(insert_for(self.dialect, job_claims).values(**values).on_conflict_do_nothing())
        except SQLAlchemyError as exc:
            log.warning("could not record %s %s as due: %s", job, period, short(exc))

    def owed(self, prefix: str) -> list[tuple[str, str]]:
        """(job, period) of ``prefix`` jobs seen due and claimed by nobody; seen by the leader only."""
        c = job_claims.c
        try:
            with self._transaction() as conn:
                if self._fenced_epoch(conn) is None:
                    return []
                q = sa.select(c.job, c.period).where(c.job.startswith(prefix, autoescape=True), c.state == DUE)
                return [(r.job, r.period) for r in conn.execute(q.order_by(c.period))]
        except SQLAlchemyError as exc:
            self._step_down(f"cannot reach the database: {short(exc)}")
            return []

    def stale(self, prefix: str, *, lead: bool) -> list[tuple[str, str]]:
        """(job, period) of ``prefix`` jobs left running by a holder that is gone, which ``claim``
        with ``retake`` would take over now: by an earlier epoch (``lead``, seen by the leader
        only), or by a process whose heartbeat stopped a lease ago."""
        c = job_claims.c
        try:
            with self._transaction() as conn:
                epoch = self._fenced_epoch(conn) if lead else 0
                if epoch is None:
                    return []
                q = sa.select(c.job, c.period).where(
                    c.job.startswith(prefix, autoescape=True), c.state == RUNNING, self._gone(epoch, lead)
                )
                return [(r.job, r.period) for r in conn.execute(q.order_by(c.period))]
        except SQLAlchemyError as exc:
            self._step_down(f"cannot reach the database: {short(exc)}")
            return []

    def fence(self, claim: Claim) -> str | None:
        """None while ``claim``'s epoch still holds the lease; otherwise why it does not. A claim
        that passes is marked disrupting, so a leader that takes over after a crash knows its
        run needs a rollback."""
        c = job_claims.c
        try:
            with self._transaction() as conn:
                epoch = self._fenced_epoch(conn)
                if epoch == claim.epoch:
                    conn.execute(
                        job_claims.update()
                        .where(c.job == claim.job, c.period == claim.period, c.epoch == claim.epoch, c.detail == "")
                        .values(detail=DISRUPTING)
                    )
        except SQLAlchemyError as exc:
            self._step_down(f"cannot reach the database: {short(exc)}")
            return f"cannot reach the database: {short(exc)}"
        if epoch != claim.epoch:
            return f"the leader lease is no longer held at epoch {claim.epoch}"
        return None

    def orphans(self, prefix: str) -> list[Orphan]:
        """Periods of ``prefix`` jobs left running by an earlier epoch whose holder has stopped:
        killed or cut off (no heartbeat for three leases), or this instance's own earlier process
        (instance names are unique per process, so a restart need not wait for the old heartbeat
        to age). Seen by the leader only."""
        c = job_claims.c
        alive = sa.select(members.c.holder).where(
            members.c.last_seen > self._now - 3 * self.ttl, members.c.role != STOPPED
        )
        gone = sa.or_(
            c.holder.not_in(alive),
            sa.and_(c.holder.startswith(self.me.instance + "/", autoescape=True), c.holder != self.me.holder),
        )
        try:
            with self._transaction() as conn:
                epoch = self._fenced_epoch(conn)
                if epoch is None:
                    return []
                q = sa.select(c.job, c.period, c.holder, c.epoch, c.detail).where(
                    c.job.startswith(prefix, autoescape=True), c.state == RUNNING, c.epoch < epoch, gone,
                )  # fmt: skip
                rows = conn.execute(q).all()
        except SQLAlchemyError as exc:
            self._step_down(f"cannot reach the database: {short(exc)}")
            return []
        return [Orphan(r.job, r.period, r.holder, int(r.epoch), r.detail == DISRUPTING) for r in rows]

    def state_of(self, job: str, period: str) -> str | None:
        """How ``job``'s ``period`` stands (running, done, failed), or None if nobody claimed it."""
        c = job_claims.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(c.state).where(c.job == job, c.period == period)).scalar_one_or_none()

    def finish(self, claim: Claim, ok: bool, detail: str = "") -> None:
        """Record how the claimed period ended (only by the epoch that claimed it)."""
        c = job_claims.c
        mine = (c.job == claim.job, c.period == claim.period, c.epoch == claim.epoch)
        ended = {"state": DONE if ok else FAILED, "finished_at": self._now, "detail": detail[:500]}
        try:
            with self._transaction() as conn:
                conn.execute(job_claims.update().where(*mine).values(**ended))
        except SQLAlchemyError as exc:
            log.warning("could not record the end of %s %s: %s", claim.job, claim.period, short(exc))

    # -- what every instance can read -----------------------------------------

    def members(self) -> list[Member]:
        """Every process that beat in the last week, most recent first, with its heartbeat's age."""
        with self.engine.connect() as conn:
            now = float(conn.execute(sa.select(self._now)).scalar_one())
            rows = conn.execute(sa.select(members).order_by(members.c.last_seen.desc())).all()
        return [
            Member(Identity(r.holder, r.instance, r.ha_group, r.host, r.pid, r.version), r.role, r.epoch,
                   now - r.last_seen)
            for r in rows
        ]  # fmt: skip

    def current(self) -> Standing:
        """Who holds the lease now, as the database says (``leader``: this process)."""
        with self.engine.connect() as conn:
            standing = self._other(conn)
        if standing.holder == self.me.holder:
            return Standing(True, standing.epoch, standing.holder, standing.expires_at)
        return standing

    def alive(self, within: float | None = None) -> int:
        """Processes whose heartbeat is younger than ``within`` (three leases) and that did not stop."""
        with self._transaction() as conn:
            return self._alive(conn, False, within)

    def database_time(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(sa.select(self._now)).scalar_one())

    # -- internals --------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """The keeper's own session, in a transaction, under the keeper's lock (ticks come from
        the scheduler, claims from job threads). A database error drops the session: it may be
        the one the server ended."""
        with self._lock:
            try:
                conn = self._session()
                with conn.begin():
                    yield conn
            except SQLAlchemyError:
                self._drop_session()
                raise

    def _alive(self, conn: sa.Connection, leader: bool, within: float | None = None) -> int:
        """Processes whose heartbeat is recent and that did not stop; the leader also forgets
        those silent for a week."""
        m = members.c
        if leader:
            conn.execute(members.delete().where(m.last_seen < self._now - FORGET_AFTER))
        window = 3 * self.ttl if within is None else within
        recent = sa.select(sa.func.count()).where(m.last_seen > self._now - window, m.role != STOPPED)
        return int(conn.execute(recent.select_from(members)).scalar_one())

    def _session(self) -> sa.Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._drop_session()
            conn = self.engine.connect()
            if self.dialect == "postgresql":
                # A keeper that stops talking (its host gone, its network cut) loses its session,
                # and with it the advisory lock, once a lease's time has passed on the server.
                conn.exec_driver_sql(f"SET idle_session_timeout = {int(self.ttl * 1000)}")
                conn.commit()
            self._conn = conn
        return self._conn

    def _drop_session(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never back to the pool: its session may hold the advisory lock
                conn.close()
            except SQLAlchemyError:
                pass

    def _try_advisory(self, conn: sa.Connection) -> bool:
        """Whether this session holds the leader advisory lock (taking it if free)."""
        if not self.advisory:
            return False
        with conn.begin():
            return bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK}).scalar())

    def _acquire(self, conn: sa.Connection, fast: bool) -> Any:
        """Renew our lease, or take it over. With advisory locks, leading takes holding the lock
        (``fast``): whoever holds it may take the lease at once, since a holder keeps the lock for
        as long as its session lives; without them, a lease is taken only once it expired."""
        if self.advisory and not fast:
            return None
        now, t = self._now, leases
        same = sa.and_(t.c.holder == self.me.holder, t.c.expires_at > now)
        row = conn.execute(
            sa.select(t.c.holder, t.c.epoch, t.c.expires_at).where(t.c.name == LEASE).with_for_update()
        ).first()
        if row is None:
            return conn.execute(
                insert_for(self.dialect, t)
                .values(name=LEASE, holder=self.me.holder, epoch=1, acquired_at=now, expires_at=now + self.ttl)
                .on_conflict_do_nothing()
                .returning(t.c.epoch, t.c.expires_at)
            ).first()
        takeover = sa.true() if fast else sa.or_(t.c.holder == self.me.holder, t.c.expires_at <= now)
        return conn.execute(
            t.update()
            .where(t.c.name == LEASE, takeover)
            .values(
                holder=self.me.holder,
                epoch=sa.case((same, t.c.epoch), else_=t.c.epoch + 1),
                acquired_at=sa.case((same, t.c.acquired_at), else_=now),
                expires_at=now + self.ttl,
            )
            .returning(t.c.epoch, t.c.expires_at)
        ).first()

    def _other(self, conn: sa.Connection) -> Standing:
        row = conn.execute(
            sa.select(leases.c.holder, leases.c.epoch, leases.c.expires_at).where(leases.c.name == LEASE)
        ).first()
        if row is None:
            return Standing(False, None, None, None, "no lease row")
        return Standing(False, int(row.epoch), row.holder, float(row.expires_at), f"{row.holder} leads")

    def _beat(self, conn: sa.Connection, s: Standing) -> None:
        me = self.me
        role = LEADER if s.leader else FOLLOWER
        values = {
            "holder": me.holder, "instance": me.instance, "ha_group": me.ha_group, "host": me.host[:255],
            "pid": me.pid, "version": me.version[:64], "started_at": self._now, "last_seen": self._now,
            "role": role, "epoch": s.epoch if s.leader else None,
        }  # fmt: skip
        stmt = insert_for(self.dialect, members).values(**values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[members.c.holder],
                set_={"last_seen": self._now, "role": role, "epoch": values["epoch"]},
            )
        )

    def _fenced_epoch(self, conn: sa.Connection) -> int | None:
        """Our epoch if we hold the lease now, the row locked (shared) until the transaction ends so
        a takeover waits for what we do under it; None otherwise."""
        q = sa.select(leases.c.epoch).where(
            leases.c.name == LEASE, leases.c.holder == self.me.holder, leases.c.expires_at > self._now
        )
        if self.dialect == "postgresql":
            q = q.with_for_update(read=True)
        epoch = conn.execute(q).scalar_one_or_none()
        if epoch is None:
            self._step_down("the lease is not ours")
        return None if epoch is None else int(epoch)

    def _step_down(self, reason: str) -> None:
        if self.standing.leader:
            self._note(Standing(False, None, None, None, reason))
        self._valid_until = 0.0

    def _note(self, s: Standing) -> None:
        was = self.standing
        self.standing = s
        if s.leader and not (was.leader and was.epoch == s.epoch):
            log.info("leader lease taken: epoch %s", s.epoch)
        elif was.leader and not s.leader:
            log.warning("leader lease lost (epoch %s): %s", was.epoch, s.reason)
