"""The jobs table: one row per scheduled job, built from the configuration alone."""

from __future__ import annotations

from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

import config as cfg
from monitor.jobs import table as jobs


def noop(*_args: object) -> None:
    pass


def test_one_cycle_job_per_interval_and_the_fixed_jobs(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "targets:\n"
        "  - {id: a, probe: tcp, interval: 10s, timeout: 2s, tcp: {host: 127.0.0.1, port: 22}}\n"
        "  - {id: b, probe: tcp, interval: 10s, timeout: 2s, tcp: {host: 127.0.0.1, port: 23}}\n"
        "  - {id: c, probe: tcp, interval: 1m, tcp: {host: 127.0.0.1, port: 24}}\n"
    )
    conf = cfg.parse(str(path), state_dir=str(tmp_path))
    hooks = jobs.Hooks(cycle=noop, month_close=noop, audit=noop, rollup=noop)
    rows = jobs.table(conf, hooks)
    assert [r.id for r in rows] == ["cycle-10", "cycle-60", "month-close", "audit", "rollup"]
    assert rows[0].args == (10.0,) and rows[0].misfire_grace == 10
    with_all = jobs.table(
        conf, jobs.Hooks(noop, noop, noop, noop, radius=noop, watchdog=noop), radius_interval=60, watchdog_interval=30
    )
    assert {"radius", "watchdog"} <= {r.id for r in with_all}
    scheduler = BackgroundScheduler(timezone=conf.timezone)
    scheduler.start(paused=True)  # as the daemon's: nothing runs here
    try:
        jobs.install(scheduler, with_all)
        jobs.install(scheduler, with_all)  # a reload installs the table again: replaced, never doubled
        assert sorted(j.id for j in scheduler.get_jobs()) == sorted(r.id for r in with_all)
    finally:
        scheduler.shutdown(wait=False)
