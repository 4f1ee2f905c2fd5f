"""The leader lease, in the database every instance shares.

One process, the leader, holds a lease row: holder, epoch and expiry on the *database's* clock,
renewed on a timer. The epoch grows by one at every change of holder and is the fencing token:
each claim and each disruptive drill step is checked against it in the database, so a process
that lost the lease (paused, partitioned, its session killed) cannot act on a stale belief.

Singleton job claims, fenced by that epoch, are ``store.claims`` (``Lease.claims``).

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
from store.backends import db_now, insert_for
from store.claims import Claims
from store.schema import FOLLOWER, LEADER, LEADER_LOCK, STOPPED, leases, members

log = logging.getLogger(__name__)

LEASE = "leader"


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
        self.now = db_now(self.dialect)
        self._conn: sa.Connection | None = None
        self._valid_until = 0.0  # monotonic: a conservative local bound on the lease
        self._lock = threading.RLock()
        self.claims = Claims(self)

    # -- the timer -----------------------------------------------------------

    def tick(self) -> Standing:
        """Renew the lease (or take it if free), beat the heartbeat, count who is alive. Any
        database error steps down."""
        with self._lock:
            sent = time.monotonic()
            try:
                fast = self._try_advisory(self._session())
                with self.transaction() as conn:
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
                with self.transaction() as conn:
                    mine = leases.c.holder == self.me.holder
                    conn.execute(leases.update().where(leases.c.name == LEASE, mine).values(expires_at=self.now))
                    stopped = {"role": STOPPED, "epoch": None}
                    conn.execute(members.update().where(members.c.holder == self.me.holder).values(**stopped))
            except SQLAlchemyError as exc:
                log.warning("could not release the leader lease: %s", short(exc))
            self._drop_session()
            self.standing = Standing(False, None, None, None, "stopped")
            self._valid_until = 0.0

    # -- what every instance can read -----------------------------------------

    def members(self) -> list[Member]:
        """Every process that beat in the last week, most recent first, with its heartbeat's age."""
        with self.engine.connect() as conn:
            now = float(conn.execute(sa.select(self.now)).scalar_one())
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
        with self.transaction() as conn:
            return self._alive(conn, False, within)

    def database_time(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(sa.select(self.now)).scalar_one())

    # -- internals --------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
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
            conn.execute(members.delete().where(m.last_seen < self.now - FORGET_AFTER))
        window = 3 * self.ttl if within is None else within
        recent = sa.select(sa.func.count()).where(m.last_seen > self.now - window, m.role != STOPPED)
        return int(conn.execute(recent.select_from(members)).scalar_one())

    def _session(self) -> sa.Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._drop_session()
            conn = self.engine.connect()
            if self.dialect == "postgresql":
                # A keeper that stops talking (its host gone, its network cut) loses its session,
                # and with it the advisory lock, once a lease's time has passed on the server.
                conn.exec_driver_sql(f"SET idle_session_timeout = {int(self.ttl * 1000)}")
                # Cut in the middle of a renewal, it would keep the lease row locked, and every other
                # instance's takeover waiting behind it, for as long as the server thinks the client
                # lives (hours of TCP keepalive, for ever behind a proxy): a keeper's transaction is
                # a few statements, so one idle for a lease's time belongs to a keeper that is gone.
                conn.exec_driver_sql(f"SET idle_in_transaction_session_timeout = {int(self.ttl * 1000)}")
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
        now, t = self.now, leases
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
            "pid": me.pid, "version": me.version[:64], "started_at": self.now, "last_seen": self.now,
            "role": role, "epoch": s.epoch if s.leader else None,
        }  # fmt: skip
        stmt = insert_for(self.dialect, members).values(**values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[members.c.holder],
                set_={"last_seen": self.now, "role": role, "epoch": values["epoch"]},
            )
        )

    def fenced_epoch(self, conn: sa.Connection) -> int | None:
        """Our epoch if we hold the lease now, the row locked (shared) until the transaction ends so
        a takeover waits for what we do under it; None otherwise."""
        q = sa.select(leases.c.epoch).where(
            leases.c.name == LEASE, leases.c.holder == self.me.holder, leases.c.expires_at > self.now
        )
        if self.dialect == "postgresql":
            q = q.with_for_update(read=True)
        epoch = conn.execute(q).scalar_one_or_none()
        if epoch is None:
            self.step_down("the lease is not ours")
        return None if epoch is None else int(epoch)

    def step_down(self, reason: str) -> None:
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
