"""The leader lease and singleton claims, on SQLite and on the real PostgreSQL server: one leader
among processes racing, a period claimed once, fencing by epoch, takeover when the leader's
session is killed (the advisory fast path) or its lease expires, and a bounded loop of forced
failovers with not one duplicate claim."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from store import schema
from store.db import Store
from store.lease import Identity, Lease
from tests import pgdb


@contextmanager
def keepers(url: str, n: int, *, ttl: float, advisory: bool = True) -> Iterator[list[Lease]]:
    """``n`` lease keepers, each on an engine (a connection pool) of its own, as processes have."""
    stores = [Store(url, f"vigia-{i}") for i in range(n)]
    stores[0].migrate()
    try:
        yield [Lease(s.engine, Identity.mine(s.instance, None, "test"), ttl=ttl, advisory=advisory) for s in stores]
    finally:
        for s in stores:
            s.close()


def leader_backend(url: str) -> int:
    """The server process of the session holding the leader advisory lock."""
    db = url.rsplit("/", 1)[1]
    rows = pgdb.admin(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s AND l.classid = %s AND l.objid = %s",
        (db, schema.LEADER_LOCK >> 32, schema.LEADER_LOCK & 0xFFFFFFFF),
    )
    assert len(rows) == 1, rows
    return int(rows[0][0])


def terminate_leader(url: str) -> None:
    """pg_terminate_backend of the leader's session; returns once its server process is gone
    (the lock is freed when the process exits, a moment after the call returns)."""
    pid = leader_backend(url)
    pgdb.admin("SELECT pg_terminate_backend(%s)", (pid,))
    for _ in range(100):
        if not pgdb.admin("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)):
            return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} still there 5 s after pg_terminate_backend")


def test_sqlite_single_instance_leads_and_claims_once(tmp_path: Path) -> None:
    with keepers(f"sqlite:///{tmp_path}/v.db", 1, ttl=15) as [lease]:
        s = lease.tick()
        assert s.leader and s.epoch == 1 and lease.valid()
        assert lease.tick().epoch == 1  # renewing keeps the epoch
        claim = lease.claims.claim("month-close/cdc", "2025-01")
        assert claim is not None and claim.epoch == 1
        assert lease.claims.claim("month-close/cdc", "2025-01") is None  # once, for ever
        assert lease.claims.fence(claim) is None
        lease.claims.finish(claim, True)
        [m] = lease.members()
        assert m.role == "leader" and m.epoch == 1 and m.heartbeat_age < 5
        lease.release()
        assert not lease.valid() and lease.members()[0].role == "stopped"


def test_three_racing_processes_one_leader_one_claim() -> None:
    with pgdb.database() as url, ExitStack() as stack:
        leases = stack.enter_context(keepers(url, 3, ttl=30))
        start = threading.Barrier(3)
        standings: list[object] = [None] * 3
        claims: list[object] = [None] * 3

        def race(i: int) -> None:
            start.wait(timeout=10)
            standings[i] = leases[i].tick()
            claims[i] = leases[i].claims.claim("rollup", "2025-01-01T00")

        threads = [threading.Thread(target=race, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        leaders = [s for s in standings if getattr(s, "leader", False)]
        assert len(leaders) == 1
        assert sum(c is not None for c in claims) == 1
        alive = leases[0].alive(within=10)
        assert alive == 3


def test_killed_leader_session_hands_over_at_once_and_is_fenced() -> None:
    """pg_terminate_backend of the leader's session: a follower takes over at its next tick
    (the lease TTL is 60 s: no waiting for it), the old leader claims nothing and its claim is
    fenced."""
    with pgdb.database() as url, ExitStack() as stack:
        a, b = stack.enter_context(keepers(url, 2, ttl=60))
        assert a.tick().leader and not b.tick().leader
        old = a.claims.claim("drill/failover", "2025-01-01T03:00")
        assert old is not None
        terminate_leader(url)
        t0 = time.monotonic()
        got = b.tick()
        assert got.leader and got.epoch == old.epoch + 1 and time.monotonic() - t0 < 5
        assert a.claims.claim("drill/failover", "2025-01-02T03:00") is None and not a.valid()
        assert a.claims.fence(old) is not None
        assert not a.tick().leader  # its new session finds the lease taken
        assert b.claims.claim("drill/failover", "2025-01-01T03:00") is None  # that period ran (once)
        assert b.claims.claim("drill/failover", "2025-01-01T03:00", retake=True) is not None  # idempotent jobs only


def test_expired_lease_passes_to_a_follower_without_advisory_locks() -> None:
    """Behind PgBouncer (advisory locks off) a leader that stops renewing loses the lease at
    its expiry, on the database's clock."""
    with pgdb.database() as url, ExitStack() as stack:
        a, b = stack.enter_context(keepers(url, 2, ttl=1.0, advisory=False))
        assert a.tick().leader
        claim = a.claims.claim("month-close/cdc", "2025-02")
        assert claim is not None
        assert not b.tick().leader
        deadline = time.monotonic() + 10
        while not b.tick().leader:
            assert time.monotonic() < deadline, "the follower never took the expired lease"
            time.sleep(0.1)
        assert a.claims.fence(claim) is not None
        assert not a.tick().leader


@pytest.mark.scale
def test_fifty_forced_failovers_no_duplicate_claim() -> None:
    """50 rounds: the leader's session is killed, four keepers tick and every one tries to claim
    the round's period. Each period is claimed exactly once, by the leader of that round, whose
    epoch only grows."""
    rounds = 50
    with pgdb.database() as url, ExitStack() as stack:
        leases = stack.enter_context(keepers(url, 4, ttl=60))
        for lease in leases:
            lease.tick()
        epochs: list[int] = []
        for r in range(rounds):
            terminate_leader(url)
            standings = [lease.tick() for lease in leases]
            leaders = [i for i, s in enumerate(standings) if s.leader]
            assert len(leaders) == 1, f"round {r}: {standings}"
            got = [lease.claims.claim("round", str(r)) for lease in leases]
            winners = [c for c in got if c is not None]
            assert len(winners) == 1 and got[leaders[0]] is not None
            epochs.append(winners[0].epoch)
        assert epochs == sorted(set(epochs)) and len(epochs) == rounds
        with leases[0].engine.connect() as conn:
            rows = conn.execute(sa.select(schema.job_claims.c.period).where(schema.job_claims.c.job == "round")).all()
        assert sorted(int(p) for (p,) in rows) == list(range(rounds))
