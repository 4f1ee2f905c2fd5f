"""The daemon's side of the leader lease (store.lease): a tick on a timer, the standing in vigia's
own metrics, singleton work under a claim per period, and the gate scheduled drills pass
(continuity.gate): the leader runs each due drill once, fenced by its epoch at every disruptive step."""

from __future__ import annotations

from collections.abc import Callable

from continuity.gate import Fence, Interrupted, due, period
from monitor.runtime.stats import DaemonStats
from store.claims import DUE, RUNNING, Claim
from store.lease import Lease

DRILL_JOB = "drill/"


class Leadership:
    def __init__(self, lease: Lease, stats: DaemonStats) -> None:
        self.lease = lease
        self.stats = stats
        stats.instance, stats.ha_group = lease.me.instance, lease.me.ha_group or ""

    @property
    def interval(self) -> float:
        """How often the lease is renewed: three tries before it would expire."""
        return self.lease.ttl / 3

    def tick(self) -> bool:
        """Renew; True when this process's standing changed (the daemon refreshes /metrics then)."""
        was = (self.stats.leader, self.stats.leader_epoch)
        self._tick()
        return (self.stats.leader, self.stats.leader_epoch) != was

    def _tick(self) -> None:
        standing = self.lease.tick()
        self.stats.leader = standing.leader
        if standing.epoch is not None:
            self.stats.leader_epoch = standing.epoch
        if standing.reachable:
            self.stats.instances_alive = standing.alive
        else:
            self.stats.lease_errors += 1

    def once(self, job: str, key: str, work: Callable[[], bool], *, lead: bool, retake: bool = False) -> bool | None:
        """Run ``work`` for ``key`` unless the period is claimed already; None: not run here."""
        claim = self.lease.claims.claim(job, key, retake=retake, lead=lead)
        if claim is None:
            return None
        ok = False
        try:
            ok = work()
        finally:
            self.lease.claims.finish(claim, ok)
        return ok

    def enter(self, drill_id: str, scheduled_for: float) -> Fence | None:
        claim = self.lease.claims.claim(DRILL_JOB + drill_id, period(scheduled_for), lead=True)
        return None if claim is None else _ClaimFence(self.lease, claim)

    def interrupted(self) -> list[Interrupted]:
        return [
            Interrupted(o.job.removeprefix(DRILL_JOB), due(o.period), o.holder, o.disrupting)
            for o in self.lease.claims.orphans(DRILL_JOB)
        ]

    def take_over(self, run: Interrupted) -> Fence | None:
        # Retaking moves the claim to this epoch atomically: of several leaders in turn, one recovers it.
        claim = self.lease.claims.claim(DRILL_JOB + run.drill_id, period(run.scheduled_for), lead=True, retake=True)
        return None if claim is None else _ClaimFence(self.lease, claim)

    def owe(self, drill_id: str, scheduled_for: float) -> None:
        self.lease.claims.owe(DRILL_JOB + drill_id, period(scheduled_for))

    def owed(self) -> list[tuple[str, float]]:
        return [(job.removeprefix(DRILL_JOB), due(p)) for job, p in self.lease.claims.owed(DRILL_JOB)]

    def settled(self, drill_id: str, scheduled_for: float) -> bool | None:
        state = self.lease.claims.state_of(DRILL_JOB + drill_id, period(scheduled_for))
        return None if state in (None, DUE) else state != RUNNING

    def stale(self, job: str, *, lead: bool) -> list[str]:
        """Periods of ``job`` left running by a holder that is gone (Lease.stale), to retake now."""
        return [p for j, p in self.lease.claims.stale(job, lead=lead) if j == job]

    def close(self) -> None:
        self.lease.release()
        self.stats.leader = False


class _ClaimFence:
    def __init__(self, lease: Lease, claim: Claim) -> None:
        self.lease, self.claim = lease, claim

    def check(self) -> str | None:
        return self.lease.claims.fence(self.claim)

    def done(self, ok: bool, detail: str) -> None:
        self.lease.claims.finish(self.claim, ok, detail)
