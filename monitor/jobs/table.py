"""The daemon's scheduled jobs, as one table: what runs, when, and how late it may still run.

``table()`` is pure (it builds the rows from the configuration and the daemon's callables);
``install()`` hands them to APScheduler. A new scheduled job is one row here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

import config as cfg
from continuity import schedule as drill_schedule
from store.schema import drill_jobs_table

CYCLE_PREFIX = "cycle-"


@dataclass(frozen=True)
class Job:
    id: str
    name: str
    func: Callable[..., None]
    trigger: BaseTrigger
    args: tuple[Any, ...] = ()
    first_in: float | None = None  # seconds until the first run; None: when the trigger says
    misfire_grace: int | None = None  # seconds late it may still run; None: APScheduler's default
    options: dict[str, Any] = field(default_factory=dict)


# How often the daemon tries to e-mail the month just closed (each retry waits its back-off too).
DELIVERY_EVERY = 300.0
# How often the daemon reads what operators entered (`vigia incident`, `vigia maintenance`).
OPERATOR_INPUT_EVERY = 10.0


@dataclass(frozen=True)
class Hooks:
    """The daemon's callables the jobs run."""

    cycle: Callable[[float], None]
    month_close: Callable[[], None]
    audit: Callable[[], None]
    rollup: Callable[[], None]
    radius: Callable[[], None] | None = None
    watchdog: Callable[[], None] | None = None
    lease: Callable[[], None] | None = None
    month_rollup: Callable[[], None] | None = None
    operator_input: Callable[[], None] | None = None
    singletons: Callable[[], None] | None = None
    delivery: Callable[[], None] | None = None


def table(
    config: cfg.Config,
    hooks: Hooks,
    *,
    radius_interval: float | None = None,
    watchdog_interval: float | None = None,
    lease_interval: float | None = None,
) -> list[Job]:
    tz = config.timezone
    rows = _cycles(config, hooks)
    if hooks.radius is not None and radius_interval is not None:
        trigger = IntervalTrigger(seconds=radius_interval, timezone=tz)
        rows.append(Job("radius", "RADIUS accounting usage", hooks.radius, trigger, first_in=1.0))
    rows += [
        Job(
            "month-close",
            "close the previous month: reports, open data, manifest",
            hooks.month_close,
            CronTrigger(day=1, hour=0, minute=30, timezone=tz),
            misfire_grace=6 * 3600,
        ),
        Job(
            "audit",
            "security findings: silent targets, drills, removed assets",
            hooks.audit,
            IntervalTrigger(seconds=60, timezone=tz),
            first_in=5.0,
        ),
        Job("rollup", "hourly rollup and retention", hooks.rollup, CronTrigger(minute=5, timezone=tz)),
    ]
    if hooks.month_rollup is not None:
        rows.append(
            Job(
                "month-rollup",
                "one report over every instance, once all have closed the month",
                hooks.month_rollup,
                CronTrigger(day=1, hour=6, minute=30, timezone=tz),
                misfire_grace=6 * 3600,
            )
        )
    if hooks.operator_input is not None:
        # Its own job, never the cycle's thread: with the store away, a read waits for its timeout.
        trigger = IntervalTrigger(seconds=OPERATOR_INPUT_EVERY, timezone=tz)
        rows.append(Job("operator-input", "incidents and maintenance windows entered from the command line",
                        hooks.operator_input, trigger, first_in=OPERATOR_INPUT_EVERY))  # fmt: skip
    if hooks.delivery is not None:
        trigger = IntervalTrigger(seconds=DELIVERY_EVERY, timezone=tz)
        rows.append(Job("report-delivery", "e-mail the closed month's reports to reports.delivery.to",
                        hooks.delivery, trigger, first_in=30.0))  # fmt: skip
    if lease_interval is not None:
        rows += _cluster(hooks, tz, lease_interval)
    if hooks.watchdog is not None and watchdog_interval is not None:
        trigger = IntervalTrigger(seconds=max(watchdog_interval / 2, 0.5), timezone=tz)
        rows.append(
            Job("watchdog", "systemd watchdog: vouch for running cycles", hooks.watchdog, trigger, first_in=0.0)
        )
    return rows


def _cycles(config: cfg.Config, hooks: Hooks) -> list[Job]:
    """One probe cycle per interval the targets (and the zones with agents) use."""
    return [
        Job(
            f"{CYCLE_PREFIX}{interval:g}",
            f"probe cycle every {interval:g}s",
            hooks.cycle,
            IntervalTrigger(seconds=interval, timezone=config.timezone),
            args=(interval,),
            # Groups start apart, so two intervals' cycles do not always begin together.
            first_in=random.uniform(0, min(interval, 5.0) * 0.2),
            misfire_grace=max(1, int(interval)),
        )
        for interval in sorted(config.cycle_intervals)
    ]


def _cluster(hooks: Hooks, tz: ZoneInfo, lease_interval: float) -> list[Job]:
    """Several instances on one database: the lease, and the month work a stopped claimant left."""
    rows = []
    trigger = IntervalTrigger(seconds=lease_interval, timezone=tz)
    if hooks.lease is not None:
        rows.append(Job("lease", "leader lease and heartbeat", hooks.lease, trigger, first_in=lease_interval))
    if hooks.singletons is not None:
        # Every renewal, not only when the monthly cron fires: a claim left by a dead claimant is
        # retaken within a lease of its heartbeat stopping.
        rows.append(Job("singletons", "retake month work whose claimant stopped", hooks.singletons, trigger,
                        first_in=lease_interval))  # fmt: skip
    return rows


def _background(tz: ZoneInfo, workers: int, stores: dict[str, BaseJobStore]) -> BackgroundScheduler:
    return BackgroundScheduler(
        timezone=tz,
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1},
        jobstores=stores,
    )


def scheduler(tz: ZoneInfo) -> BackgroundScheduler:
    """The daemon's scheduler: its own jobs in memory (rebuilt from the table at every start).
    Nothing in its loop touches the database, so a database that does not answer never holds a
    probe cycle up."""
    return _background(tz, 8, {"default": MemoryJobStore()})


def drill_scheduler(tz: ZoneInfo, engine: Engine, instance: str) -> BackgroundScheduler:
    """The drills' scheduler, apart: their schedules in the database, so a run due while the daemon
    was down is noticed. APScheduler's loop asks every job store in turn for due jobs: while the
    drills' store shared the daemon's scheduler, a database cut held that loop for the connection
    timeout at every wakeup, and every probe cycle with it (one cycle in 5 s instead of each 1 s)."""
    table = drill_jobs_table(engine.dialect.name, instance)
    stores = {"default": MemoryJobStore(), drill_schedule.JOBSTORE: SQLAlchemyJobStore(engine=engine, tablename=table)}
    return _background(tz, 4, stores)


def install(scheduler: BaseScheduler, jobs: Sequence[Job]) -> None:
    now = datetime.now(UTC)
    for job in jobs:
        kwargs: dict[str, Any] = dict(job.options)
        if job.first_in is not None:
            kwargs["next_run_time"] = now + timedelta(seconds=job.first_in)
        if job.misfire_grace is not None:
            kwargs["misfire_grace_time"] = job.misfire_grace
        scheduler.add_job(
            job.func, job.trigger, args=list(job.args), id=job.id, name=job.name, replace_existing=True, **kwargs
        )
