"""Drill schedules survive restarts: runs due while vigia was down are caught up or journaled missed;
a drill cut short by SIGKILL is rolled back at the next start and journaled interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from continuity import schedule
from continuity.journal import Journal
from continuity.plan import parse
from continuity.runner import Runner
from tests.conftest import need_root
from tests.vigiaproc import ROOT, VigiaProcess

PLAN = """version: s1
services:
  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}
drills:
  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, max_duration: 10m,
     schedule: {cron: "0 * * * *", timezone: America/Bogota}, misfire_grace: 30m}
"""


def scheduler(db: Path) -> BackgroundScheduler:
    sched = BackgroundScheduler(
        timezone=UTC,
        jobstores={schedule.JOBSTORE: SQLAlchemyJobStore(url=f"sqlite:///{db}", tablename="apscheduler_drill_jobs")},
    )
    sched.start(paused=True)
    return sched


def test_missed_and_caught_up_after_downtime(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(PLAN)
    plan = parse(str(tmp_path / "plan.yml"))
    journal = Journal(tmp_path / "drills")
    runner = Runner(plan, journal)
    db = tmp_path / "vigia.db"
    first = scheduler(db)
    done = schedule.reconcile(first, runner)
    assert done.added == ["mesa"]
    due = first.get_job("drill:mesa").next_run_time.astimezone(UTC)
    assert due > datetime.now(UTC) and due.minute == 0
    first.shutdown(wait=False)
    # vigia goes down and starts again three hours and ten minutes after that run was due.
    again = scheduler(db)
    now = due + timedelta(hours=3, minutes=10)
    done = schedule.reconcile(again, runner, now=now)
    hour = due + timedelta(hours=3)
    assert [w for _, w in done.missed] == [due, due + timedelta(hours=1), due + timedelta(hours=2)]
    assert done.caught_up == [("mesa", hour)]
    assert again.get_job("drill:mesa").next_run_time == hour + timedelta(hours=1)
    again.shutdown(wait=False)
    runs = list(journal.runs("mesa"))
    assert [(r["verdict"], r["trigger"]) for r in runs] == [("missed", "scheduled")] * 3 + [("passed", "catch-up")]
    assert [r["scheduled_for"] for r in runs] == [
        w.isoformat(timespec="milliseconds") for w in (hour - timedelta(hours=h) for h in (3, 2, 1, 0))
    ]
    # Started once more with nothing due: nothing new is journaled, the stored job is kept, not re-added.
    third = scheduler(db)
    done = schedule.reconcile(third, runner, now=now + timedelta(minutes=5))
    assert (done.added, done.missed, done.caught_up) == ([], [], [])
    third.shutdown(wait=False)
    assert len(list(journal.runs())) == 4
    assert journal.verify() == (4, [])


def test_sigkill_mid_drill_rolls_back_at_next_start(tmp_path: Path) -> None:
    need_root()
    started, rolled = tmp_path / "started", tmp_path / "rolled-back"
    hold = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(30)"
    (tmp_path / "plan.yml").write_text(f"""version: k1
services:
  - {{id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}}
drills:
  - {{id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, max_duration: 10m}}
  - id: largo
    service: web
    kind: restart
    exercise: functional
    objective: x
    max_duration: 5m
    method: [{{type: command, argv: [{sys.executable}, -c, "{hold}"], timeout: 60s}}]
    rollback: [{{type: command, argv: [/usr/bin/touch, {rolled}]}}]
""")
    config = (
        "state_dir: {state}\ndefaults: {interval: 1s, timeout: 500ms}\n"
        f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n"
        "targets:\n  - {id: lo, probe: icmp, icmp: {address: 127.0.0.1}}\n"
    )
    vigia = VigiaProcess(config, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "monitor", "drill", "run", "--config", str(vigia.config)]
    subprocess.run([*cli, "mesa"], env=env, check=True, timeout=60, capture_output=True)
    proc = subprocess.Popen([*cli, "largo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if started.exists():
                break
            time.sleep(0.05)
        assert started.exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        journal = Journal(tmp_path / "state" / "drills")
        assert [m["drill"] for m in journal.unfinished()] == ["largo"]
        assert not rolled.exists()
        vigia.start()
        vigia.wait_for(
            lambda: vigia.value("vigia_drill_runs_total", drill="largo", result="interrupted") == 1.0,
            message="interrupted run journaled",
        )
        assert rolled.exists(), "the rollback ran at start"
        assert vigia.value("vigia_drill_runs_total", drill="mesa", result="passed") == 1.0
        assert vigia.value("vigia_continuity_service_overdue", service="web") == 0.0
        # A manual run from another process shows in the daemon's metrics at its next cycle.
        subprocess.run([*cli, "mesa"], env=env, check=True, timeout=60, capture_output=True)
        vigia.wait_for(
            lambda: vigia.value("vigia_drill_runs_total", drill="mesa", result="passed") == 2.0,
            message="manual run seen by the daemon",
        )
    finally:
        proc.kill()
        vigia.stop()
        subprocess.run(["pkill", "-f", str(started)], capture_output=True)
    runs = list(journal.runs())
    assert [(r["drill"], r["verdict"]) for r in runs] == [
        ("mesa", "passed"),
        ("largo", "interrupted"),
        ("mesa", "passed"),
    ]
    assert runs[1]["rollback_ok"] is True and runs[2]["trigger"] == "manual"
    assert runs[1]["disruption_start"] is not None  # the marker knew the disruption had begun
    assert journal.unfinished() == []
    assert journal.verify() == (3, [])
