"""Several vigia processes on one PostgreSQL database, as real processes: started together on an
empty database, one leader, failover when the leader is killed or its session terminated, and a
drill whose leader dies mid-run: journaled interrupted and rolled back, its period never run
twice."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from continuity.journal import Journal
from tests import pgdb
from tests.lab import Lab
from tests.test_lease import terminate_leader
from tests.vigiaproc import ROOT, VigiaProcess

TTL = 3.0  # the lease; renewed every second
RENEWAL = TTL / 3


def config(i: int, url_file: Path, plan: Path | None, *, ha_group: str | None = None) -> str:
    lines = [
        f"instance: site-{i}",
        "timezone: UTC",
        "state_dir: {state}",
        "defaults: {interval: 1s, timeout: 500ms}",
        f"cluster: {{lease_ttl: {TTL:g}s}}",
        f"store: {{url_file: {url_file}}}",
        "targets:",
        "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}",
    ]
    if ha_group:
        lines.insert(1, f"ha_group: {ha_group}")
    if plan is not None:
        lines.insert(1, f"continuity: {{plan: {plan}}}")
    return "\n".join(lines) + "\n"


@contextmanager
def instances(tmp: Path, n: int, plan: Path | None = None) -> Iterator[tuple[str, list[VigiaProcess]]]:
    """``n`` vigia processes on one new database, started at once."""
    with pgdb.database() as url:
        url_file = tmp / "store-url"
        url_file.write_text(url + "\n")
        procs = []
        for i in range(n):
            (tmp / f"i{i}").mkdir()
            procs.append(VigiaProcess(config(i, url_file, plan), tmp / f"i{i}"))
        for p in procs:  # no waiting between starts: they race to the empty schema
            p.start()
        try:
            yield url, procs
        finally:
            for p in procs:
                if p.proc is not None and p.proc.poll() is None:
                    p.stop()


def leaders(procs: list[VigiaProcess]) -> list[int]:
    out = []
    for i, p in enumerate(procs):
        if p.proc is not None and p.proc.poll() is None and p.value("vigia_leader") == 1.0:
            out.append(i)
    return out


def wait_one_leader(procs: list[VigiaProcess], timeout: float, exclude: int | None = None) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = leaders(procs)
        if len(got) == 1 and got[0] != exclude:
            return got[0]
        time.sleep(0.1)
    raise AssertionError(f"no single leader within {timeout}s: {leaders(procs)}")


def kill(p: VigiaProcess) -> None:
    assert p.proc is not None
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait(timeout=10)


def test_three_start_together_one_leads_and_a_killed_leader_is_replaced(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yml"
    plan.write_text(PLAN.format(cron="0 3 1 1 *", hold="pass", rollback="pass", python=sys.executable))
    with instances(tmp_path, 3, plan) as (url, procs):
        for p in procs:
            p.wait_ready(timeout=60)
        first = wait_one_leader(procs, timeout=10)
        for p in procs:
            p.wait_for(lambda p=p: p.value("vigia_instances_alive") == 3.0, message="three alive")
            assert "cannot prepare the store schema" not in p.log.read_text()
        epoch = procs[first].value("vigia_leader_epoch")
        listing = subprocess.run(
            [sys.executable, "-m", "monitor", "instances", "--config", str(procs[0].config)],
            capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True,
        ).stdout  # fmt: skip
        assert f"leader: site-{first}/" in listing
        rows = [line.split() for line in listing.splitlines()[2:]]
        assert sorted(r[0] for r in rows) == ["site-0", "site-1", "site-2"]
        assert sorted(r[4] for r in rows) == ["follower", "follower", "leader"]  # INSTANCE HA-GROUP HOST PID ROLE
        # Each scheduler keeps its drill schedules in a table of its own: never a shared job store.
        tables = {r[0] for r in pgdb.admin_in(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'apsch%%'")}
        assert tables == {f"apscheduler_drill_jobs_site-{i}" for i in range(3)}

        t0 = time.monotonic()
        kill(procs[first])
        second = wait_one_leader(procs, timeout=TTL + RENEWAL + 5, exclude=first)
        took = time.monotonic() - t0
        assert procs[second].value("vigia_leader_epoch") == (epoch or 0) + 1
        procs[second].wait_for(lambda: procs[second].value("vigia_instances_alive") == 2.0, timeout=3 * TTL + 5)
        assert took <= TTL + RENEWAL + 5


def test_terminated_leader_session_hands_over(tmp_path: Path) -> None:
    """pg_terminate_backend of the leader's lease session: it steps down and another leads at its
    next renewal (the advisory fast path: the 3 s lease is not waited out)."""
    with instances(tmp_path, 2) as (url, procs):
        for p in procs:
            p.wait_ready(timeout=60)
        first = wait_one_leader(procs, timeout=10)
        terminate_leader(url)
        other = wait_one_leader(procs, timeout=TTL + 5, exclude=first)
        assert procs[first].value("vigia_leader") == 0.0
        assert (procs[first].value("vigia_lease_errors_total") or 0) >= 1
        assert procs[other].value("vigia_leader_epoch") == 2.0


PLAN = """version: ha1
services:
  - {{id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}}
drills:
  - id: caida
    service: web
    kind: restart
    exercise: functional
    objective: Reinicio con vigia en alta disponibilidad
    max_duration: 5m
    schedule: {{cron: "{cron}", timezone: UTC}}
    method: [{{type: command, argv: [{python}, -c, "{hold}"], timeout: 120s}}]
    rollback: [{{type: command, argv: [{python}, -c, "{rollback}"]}}]
"""


@pytest.mark.scale
def test_leader_killed_mid_drill(tmp_path: Path) -> None:
    """Three instances share a plan whose drill is due at the next whole minute. Only the leader
    runs it; it is killed mid-method; another leads within the lease TTL plus a renewal and does
    not run that period again, but takes the interrupted run over once the killed one's heartbeat
    is stale: it rolls it back and journals it interrupted. The killed one, restarted, finds its
    run settled and neither rolls back again nor journals it twice. In the same minute, another
    pair whose leader is killed at the due second: the period, seen due by the follower, is run
    late by it once it leads (it was neither run nor journaled)."""
    started, rolled = tmp_path / "started", tmp_path / "rolled"
    hold = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(100)"
    rollback = (
        f"import pathlib; f = pathlib.Path({str(rolled)!r}); f.write_text(f.read_text() + 'x' if f.exists() else 'x')"
    )

    def plans(due: float) -> None:
        at = datetime.fromtimestamp(due, UTC)
        cron = f"{at.minute} {at.hour} * * *"
        plan.write_text(PLAN.format(cron=cron, hold=hold, rollback=rollback, python=sys.executable))
        # A second cluster in the same minute: its leader is killed at the due second, before its job
        # claims the period (its followers' jobs see it due; nobody runs it): the next leader runs it late.
        plan_b.write_text(PLAN.format(cron=cron, hold="pass", rollback="pass", python=sys.executable))

    plan, plan_b = tmp_path / "plan.yml", tmp_path / "plan-b.yml"
    (tmp_path / "b").mkdir()
    # The daemons start on a plan due hours away, then reload one due at the next minute with a few
    # seconds to spare (cron is minute-grained): a whole half minute of room to start in waited ~18 s
    # more on average. A reload reschedules a drill as a sysadmin's edit of the plan does.
    plans(time.time() + 6 * 3600)
    with instances(tmp_path, 3, plan) as (url, procs), instances(tmp_path / "b", 2, plan_b) as (url_b, procs_b):
        for p in [*procs, *procs_b]:
            p.wait_ready(timeout=60)
        due = math.ceil((time.time() + 12) / 60) * 60
        plans(due)
        for p in [*procs, *procs_b]:
            p.signal(signal.SIGHUP)
        for p in [*procs, *procs_b]:
            p.wait_for(lambda p=p: p.value("vigia_config_reloads_total") == 1.0, timeout=8, message="plan reloaded")
            assert p.value("vigia_config_last_reload_successful") == 1.0
        wait_one_leader(procs_b, timeout=10)
        # Who leads is read again just before the due second (on a loaded machine a lease can move
        # in the half minute of waiting): the one killed must be the one that would run the period.
        time.sleep(max(0.0, due - 1.5 - time.time()))
        leader_b = wait_one_leader(procs_b, timeout=1)
        time.sleep(max(0.0, due - 0.1 - time.time()))
        kill(procs_b[leader_b])
        end = due + 30
        while not started.exists():
            assert time.time() < end, "the drill never started"
            time.sleep(0.1)
        runner = wait_one_leader(procs, timeout=5)
        kill(procs[runner])
        survivor = wait_one_leader(procs, timeout=TTL + RENEWAL + 5, exclude=runner)
        procs[survivor].wait_for(
            lambda: procs[survivor].value("vigia_drill_runs_total", drill="caida", result="interrupted") == 1.0,
            timeout=3 * TTL + 3 * RENEWAL + 10,
            message="the new leader took the interrupted run over",
        )
        assert rolled.read_text() == "x", "rolled back once, by the new leader"
        claims = pgdb.admin_in(url, "SELECT holder, state, detail FROM vigia_job_claims WHERE job = 'drill/caida'")
        assert len(claims) == 1 and claims[0][0].startswith(f"site-{survivor}/")
        assert claims[0][1:] == ("failed", "interrupted")
        for i in range(3):
            if i not in (runner, survivor):
                assert list(Journal(tmp_path / f"i{i}" / "state" / "drills").runs()) == []
        procs[runner].start()  # systemd would restart it
        procs[runner].wait_ready(timeout=60)
        journal = Journal(tmp_path / f"i{runner}" / "state" / "drills")
        procs[runner].wait_for(lambda: not journal.unfinished(), timeout=30, message="the marker of the run ended")
        assert rolled.read_text() == "x", "not rolled back a second time"
        assert leaders(procs) == [survivor]
        other_b = 1 - leader_b
        procs_b[other_b].wait_for(
            lambda: pgdb.admin_in(url_b, "SELECT state FROM vigia_job_claims WHERE job = 'drill/caida'") == [("done",)],
            timeout=30, message="the period owed since the leader's death run by the next leader",
        )  # fmt: skip
        [(holder_b, detail_b)] = pgdb.admin_in(url_b, "SELECT holder, detail FROM vigia_job_claims")
        assert holder_b.startswith(f"site-{other_b}/") and detail_b == "passed"
    runs_b = [r for i in range(2) for r in Journal(tmp_path / "b" / f"i{i}" / "state" / "drills").runs()]
    assert [(r["drill"], r["verdict"], r["trigger"]) for r in runs_b] == [("caida", "passed", "catch-up")]
    subprocess.run(["pkill", "-f", str(started)], capture_output=True, check=False)
    runs = [r for i in range(3) for r in Journal(tmp_path / f"i{i}" / "state" / "drills").runs()]
    assert [(r["drill"], r["verdict"]) for r in runs] == [("caida", "interrupted")]


@pytest.mark.scale
def test_instance_cut_from_the_database_steps_down_and_loses_nothing(tmp_path: Path, lab: Lab) -> None:
    """A leader in a network namespace loses its path to PostgreSQL (iptables drops it) and gets
    it back: it steps down, another leads, it goes on probing and holds its rows, and once the path
    is back it writes them: every cycle's result stored, none twice."""
    host = lab.add_host()
    relay = subprocess.Popen(
        [sys.executable, "-m", "tests.relay", host.gateway, "15432", "127.0.0.1", "5432"],
        stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == b"ready"
        host.wait_tcp(host.gateway, 15432)
        with pgdb.database() as url:
            db = url.rsplit("/", 1)[1]
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()
            (tmp_path / "a" / "url").write_text(f"postgresql+psycopg://postgres@{host.gateway}:15432/{db}\n")
            (tmp_path / "b" / "url").write_text(url + "\n")
            a = VigiaProcess(config(0, tmp_path / "a" / "url", None), tmp_path / "a")
            a.netns, a.address = host.ns, host.address
            b = VigiaProcess(config(1, tmp_path / "b" / "url", None), tmp_path / "b")
            try:
                a.start().wait_ready(timeout=60)
                a.wait_for(lambda: a.value("vigia_leader") == 1.0, message="a leads")
                b.start().wait_ready(timeout=60)
                b.wait_for(lambda: b.value("vigia_instances_alive") == 2.0, message="two alive")
                for chain, way in (("OUTPUT", "--dport"), ("INPUT", "--sport")):
                    host.run("iptables", "-A", chain, "-p", "tcp", way, "15432", "-j", "DROP")
                b.wait_for(lambda: b.value("vigia_leader") == 1.0, timeout=30, message="b takes over")
                a.wait_for(lambda: a.value("vigia_leader") == 0.0, timeout=30, message="a steps down")
                a.wait_for(
                    lambda: (a.value("vigia_store_pending_results") or 0) >= 3, timeout=30, message="a holds rows"
                )
                # The database away holds no probe cycle up (the drills' schedules live in it, on a
                # scheduler of their own): one scheduler made it one cycle in 5 s, the connection timeout.
                before, t0 = a.value("vigia_cycles_total", interval="1s") or 0, time.monotonic()
                time.sleep(4)
                ran = (a.value("vigia_cycles_total", interval="1s") or 0) - before
                assert ran >= 3, f"{ran:g} cycles of 1 s in {time.monotonic() - t0:.1f} s with the database cut"
                for chain, way in (("OUTPUT", "--dport"), ("INPUT", "--sport")):
                    host.run("iptables", "-D", chain, "-p", "tcp", way, "15432", "-j", "DROP")
                a.wait_for(lambda: a.value("vigia_store_pending_results") == 0.0, timeout=60, message="rows written")
                assert a.value("vigia_leader") == 0.0 and b.value("vigia_leader") == 1.0
                assert (a.value("vigia_store_errors_total") or 0) >= 1
                cycles = a.value("vigia_cycles_total", interval="1s") or 0
            finally:  # both stopped whatever failed (an assert here would leave b running)
                stopped = a.stop()
                b.stop()
            assert stopped == 0
            [(rows, distinct)] = pgdb.admin_in(
                url, "SELECT count(*), count(DISTINCT ts) FROM probe_results WHERE instance = 'site-0'"
            )
            assert rows == distinct >= cycles
    finally:
        relay.terminate()
        relay.wait(timeout=10)


@pytest.mark.scale
def test_a_month_close_whose_claimant_dies_is_retaken_within_a_lease(tmp_path: Path) -> None:
    """Two instances of one HA group. One holds the claim of a month's close and is killed (kill -9)
    in the middle: its claim would stay "running" until the next monthly firing. The other retakes
    it within a lease of the dead one's last heartbeat and closes the month itself."""
    with pgdb.database() as url:
        url_file = tmp_path / "store-url"
        url_file.write_text(url + "\n")
        procs = []
        for i in range(2):
            (tmp_path / f"i{i}").mkdir()
            procs.append(VigiaProcess(config(i, url_file, None, ha_group="cdc"), tmp_path / f"i{i}"))
            procs[-1].start()
        try:
            for p in procs:
                p.wait_ready(timeout=60)
            [(holder,)] = pgdb.admin_in(url, "SELECT holder FROM vigia_members WHERE instance = 'site-0'")
            # site-0 claims the close of last November, as its monthly job does, and dies mid-close.
            pgdb.admin_in(
                url,
                "INSERT INTO vigia_job_claims (job, period, holder, epoch, claimed_at, state, detail) "
                "VALUES ('month-close/cdc', '2026-11', %s, 0, extract(epoch from now()), 'running', '')",
                (holder,),
            )
            kill(procs[0])
            killed_at = time.monotonic()

            def claim() -> tuple[str, str]:
                rows = pgdb.admin_in(
                    url,
                    "SELECT holder, state FROM vigia_job_claims WHERE job = 'month-close/cdc' AND period = '2026-11'",
                )
                return rows[0][0], rows[0][1]

            procs[1].wait_for(lambda: claim()[0].startswith("site-1/"), timeout=TTL + 3 * RENEWAL + 5,
                              message="the close retaken by the live member")  # fmt: skip
            retaken_after = time.monotonic() - killed_at
            procs[1].wait_for(lambda: claim()[1] != "running", timeout=120, message="the retaken close finished")
        finally:
            for p in procs:
                if p.proc is not None and p.proc.poll() is None:
                    p.stop()
    # Its heartbeat stops with it (beats come every RENEWAL); a lease later the claim is retaken at
    # the next renewal.
    assert retaken_after <= TTL + 2 * RENEWAL + 1.5, retaken_after
    assert "its close was left unfinished by an instance that stopped: closing it here" in procs[1].log.read_text()
