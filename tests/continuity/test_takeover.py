"""A scheduled drill whose instance stopped mid-method is rolled back once, by the next leader.

Real parts: the leader lease and claims in a SQLite store (store.lease), each instance's own
journal and runner; "killed" is an instance that stops ticking, its marker left behind.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from continuity.journal import Journal
from continuity.plan import parse
from continuity.records import RunRecord
from continuity.runner import Runner
from monitor.jobs.leadership import Leadership
from monitor.runtime.stats import DaemonStats
from store.db import Store
from store.lease import Identity, Lease

TTL = 0.6

PLAN = """version: '1'
services:
  - {{id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}}
drills:
  - id: caida
    service: web
    kind: restart
    exercise: functional
    objective: x
    max_duration: 5m
    method: [{{type: wait, duration: 1s}}]
    rollback: [{{type: command, argv: [/bin/sh, -c, "echo x >> {rolled}"]}}]
"""


def instance(tmp: Path, store: Store, name: str) -> tuple[Leadership, Runner]:
    lease = Lease(store.engine, Identity.mine(name, None, "test"), ttl=TTL, advisory=False)
    leadership = Leadership(lease, DaemonStats(version="test"))
    runner = Runner(parse(str(tmp / "plan.yml")), Journal(tmp / name / "drills"))
    runner.gate = leadership
    return leadership, runner


DUE = 1_767_225_600.0  # 2026-01-01T00:00Z: the period of the drill that is interrupted


def lab(tmp: Path) -> tuple[Path, Store]:
    """The plan (its rollback appends to the returned file) and a migrated SQLite store."""
    rolled = tmp / "rolled"
    (tmp / "plan.yml").write_text(PLAN.format(rolled=rolled))
    store = Store(f"sqlite:///{tmp}/vigia.db", "cdc")
    store.migrate()
    return rolled, store


def die_mid_drill(leadership: Leadership, runner: Runner, due: float = DUE) -> None:
    """The instance leads, runs the period's drill past the fence of its first disruptive step, then
    dies: its marker stays, its claim stays running, it never ticks again."""
    wait_leader(leadership)
    fence = leadership.enter("caida", due)
    assert fence is not None and fence.check() is None
    drill = runner.plan.drill("caida")
    record = RunRecord.new(runner.plan, drill, "scheduled", None, due)
    record.disruption_start = record.started_at
    runner._mark(drill, record)


def wait_leader(leadership: Leadership) -> None:
    end = time.monotonic() + 10
    while not leadership.lease.tick().leader:
        assert time.monotonic() < end, "never became leader"
        time.sleep(TTL / 3)


def test_the_next_leader_rolls_back_a_drill_whose_instance_died(tmp_path: Path) -> None:
    rolled, store = lab(tmp_path)
    a, runner_a = instance(tmp_path, store, "a")
    b, runner_b = instance(tmp_path, store, "b")
    die_mid_drill(a, runner_a)
    assert runner_b.take_over() == []  # a still leads and beats
    wait_leader(b)
    end = time.monotonic() + 10
    taken: list[object] = []
    while not taken:  # once a's heartbeat is three leases old
        assert time.monotonic() < end, "the interrupted run was never taken over"
        b.lease.tick()
        taken = list(runner_b.take_over())
        time.sleep(TTL / 3)
    assert rolled.read_text() == "x\n"
    [run] = list(runner_b.journal.runs())
    assert (run["drill"], run["verdict"], run["rollback_ok"]) == ("caida", "interrupted", True)
    assert runner_b.take_over() == []  # the period is settled: never twice
    assert b.enter("caida", DUE) is None  # and never run again
    # a, restarted (a new process of instance a): its marker ends, nothing rolled back or journaled.
    _a2, runner_a2 = instance(tmp_path, store, "a")
    assert runner_a2.recover() == []
    assert runner_a2.journal.unfinished() == [] and list(runner_a2.journal.runs()) == []
    assert rolled.read_text() == "x\n"
    store.close()


def test_a_restarted_leader_rolls_back_its_own_previous_run_at_once(tmp_path: Path) -> None:
    """One instance (SQLite): its restarted process need not wait for the old heartbeat to age."""
    rolled, store = lab(tmp_path)
    a, runner_a = instance(tmp_path, store, "a")
    die_mid_drill(a, runner_a)
    a2, runner_a2 = instance(tmp_path, store, "a")
    assert runner_a2.recover() == []  # the claim still runs: left to the leader
    wait_leader(a2)  # the old process's lease expires; its heartbeat is still fresh
    [run] = runner_a2.take_over()
    assert run.verdict == "interrupted" and rolled.read_text() == "x\n"
    assert runner_a2.journal.unfinished() == []
    store.close()


@pytest.mark.scale
def test_a_period_due_while_the_leader_dies_is_run_late_or_journaled_missed_ten_times(tmp_path: Path) -> None:
    """Ten leader deaths at the due second, in turn: before the leader's own job claimed the period
    (its followers' jobs saw it due; nobody ran it) or after (mid-drill). The next leader runs the
    owed period late while within the drill's misfire grace (here 5 minutes), journals it missed
    after it, or takes the interrupted run over. Every period: exactly one journal entry, its
    claim settled; never lost, never twice."""
    rolled, store = lab(tmp_path)
    (tmp_path / "plan.yml").write_text(
        PLAN.format(rolled=rolled)
        .replace("max_duration: 5m", "max_duration: 5m\n    misfire_grace: 5m")
        .replace("duration: 1s", "duration: 100ms")
    )
    base = (time.time() - 10) // 60 * 60  # a whole minute at least OWED_AFTER ago
    lead, lead_runner = instance(tmp_path, store, "i0")
    wait_leader(lead)
    expected: dict[float, str] = {}
    # Ten periods, minutes ago: the first four well within the 5-minute grace, the others well past it.
    for k, minutes in enumerate((0, 1, 2, 3, 9, 10, 11, 12, 13, 14)):
        due = base - 60 * minutes
        wait_leader(lead)  # alive and leading up to the due second
        follower, follower_runner = instance(tmp_path, store, f"i{k + 1}")
        follower.lease.tick()
        if k % 2 == 0:
            # Killed at the due second before its job claimed: the follower's job finds it leading
            # no more than the dead one, and notes the period due.
            assert follower_runner.run_scheduled("caida", due) is None
            expected[due] = "passed" if minutes < 5 else "missed"
        else:
            die_mid_drill(lead, lead_runner, due)  # killed at the due second mid-drill
            assert follower_runner.run_scheduled("caida", due) is None  # claimed: not noted due
            expected[due] = "interrupted"
        # The dead leader never ticks again; the follower takes the lease at a renewal, then its
        # sweep settles what the death left (as DrillWatch.sweep does, every renewal).
        wait_leader(follower)
        end = time.monotonic() + 10
        while not settled(store, due):
            assert time.monotonic() < end, f"period {k} never settled"
            follower.lease.tick()
            follower_runner.take_over()
            started: list[tuple[str, float]] = []
            follower_runner.catch_up_owed(lambda d, t, out=started: out.append((d, t)))
            for drill_id, at in started:
                follower_runner.run_scheduled(drill_id, at, trigger="catch-up")
            time.sleep(TTL / 3)
        lead, lead_runner = follower, follower_runner
    runs = [r for k in range(11) for r in Journal(tmp_path / f"i{k}" / "drills").runs()]
    by_period = {}
    for r in runs:
        assert r["scheduled_for"] not in by_period, f"journaled twice: {r}"
        by_period[r["scheduled_for"]] = r["verdict"]
    from continuity.records import iso

    assert by_period == {iso(due): verdict for due, verdict in expected.items()}
    # Each interrupted run rolled back once, each run late rolled back at its end (as every run is).
    assert rolled.read_text() == "x\n" * (5 + 2)
    store.close()


def settled(store: Store, due: float) -> bool:
    import sqlalchemy as sa

    from continuity.gate import period
    from store.schema import job_claims

    with store.engine.connect() as conn:
        state = conn.execute(
            sa.select(job_claims.c.state).where(job_claims.c.job == "drill/caida", job_claims.c.period == period(due))
        ).scalar_one_or_none()
    return state in ("done", "failed")
