"""Drill schedules on APScheduler, with jobs kept in vigia's database so missed runs are seen.

APScheduler's SQLAlchemy job store remembers each drill's next run time across restarts.
``reconcile()`` runs once at start, with the scheduler paused, before any job can fire: for a
stored job whose time passed while the daemon was down, each missed fire time is either caught up
(the latest one, when still within the drill's misfire grace) or journaled as missed. Only then
is the job moved to its next future time. (Re-adding stored jobs with replace_existing would
silently drop those runs, which is why stored jobs are never re-added.)

Job functions are referenced by name from the job store, so they look up the live runner here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler

from continuity.runner import Runner
from kernel.cron import fire_times

log = logging.getLogger(__name__)

JOB_PREFIX = "drill:"
JOBSTORE = "drills"
# At most this many missed fire times are journaled for one drill after a long outage.
MAX_MISSED = 100

_RUNNER: Runner | None = None


def install(runner: Runner | None) -> None:
    global _RUNNER  # noqa: PLW0603 - job store entries name a module-level function
    _RUNNER = runner


def scheduled(drill_id: str) -> None:
    """The job function the job store names: run one drill on schedule."""
    runner = _RUNNER
    if runner is None or drill_id not in runner.plan.drills:
        log.warning("scheduled drill %s has no plan entry any more: skipped", drill_id)
        return
    runner.run_scheduled(drill_id, datetime.now(UTC).timestamp())


@dataclass(frozen=True)
class Reconciled:
    added: list[str]
    removed: list[str]
    missed: list[tuple[str, datetime]]
    caught_up: list[tuple[str, datetime]]


def _overdue(
    runner: Runner, drill_id: str, due: list[datetime], now: datetime, grace: float
) -> tuple[list[datetime], datetime | None]:
    """Runs that fell due while vigia was down: each recorded as missed, except the latest while it
    is still within the misfire grace, which is returned to be caught up."""
    if not due:
        return [], None
    latest = due[-1]
    in_grace = (now - latest).total_seconds() <= grace
    gone = due[:-1] if in_grace else due
    for when in gone:
        runner.record_missed(
            drill_id, when.timestamp(), "vigia was not running at the scheduled time (outside the misfire grace)"
        )
    return gone, latest if in_grace else None


def reconcile(
    scheduler: BaseScheduler,
    runner: Runner,
    now: datetime | None = None,
    catch_up: Callable[[str, datetime], Any] | None = None,
) -> Reconciled:
    """Bring the stored drill jobs in line with the plan, accounting for runs missed meanwhile.

    Call with the scheduler started paused (so the job store is open and nothing fires).
    ``catch_up(drill_id, due)`` starts a catch-up run; by default it runs inline.
    """
    now = now or datetime.now(UTC)
    plan = runner.plan
    stored = {job.id: job for job in scheduler.get_jobs(jobstore=JOBSTORE)}
    added, removed, missed, caught = [], [], [], []
    for job_id in stored:
        drill_id = job_id.removeprefix(JOB_PREFIX)
        if drill_id not in plan.triggers:
            scheduler.remove_job(job_id, jobstore=JOBSTORE)
            removed.append(drill_id)
    for drill_id, trigger in plan.triggers.items():
        drill = plan.drills[drill_id]
        job = stored.get(JOB_PREFIX + drill_id)
        if job is None:
            scheduler.add_job(
                scheduled,
                trigger,
                args=[drill_id],
                id=JOB_PREFIX + drill_id,
                jobstore=JOBSTORE,
                name=f"drill {drill_id}",
                misfire_grace_time=int(drill.misfire_grace),
                coalesce=True,
                max_instances=1,
                next_run_time=trigger.get_next_fire_time(None, now),
            )
            added.append(drill_id)
            continue
        due = fire_times(trigger, job.next_run_time, now, inclusive=True, limit=MAX_MISSED)
        gone, latest = _overdue(runner, drill_id, due, now, drill.misfire_grace)
        missed += [(drill_id, when) for when in gone]
        caught += [(drill_id, latest)] if latest is not None else []
        # The job now points at its next future time, with the plan's current trigger and grace.
        scheduler.modify_job(
            JOB_PREFIX + drill_id,
            jobstore=JOBSTORE,
            trigger=trigger,
            next_run_time=trigger.get_next_fire_time(None, now),
            misfire_grace_time=int(drill.misfire_grace),
        )
    for drill_id, latest in caught:
        log.warning("drill %s was due at %s while vigia was down: catching up now", drill_id, latest.isoformat())
        if catch_up is not None:
            catch_up(drill_id, latest)
        else:
            runner.run_scheduled(drill_id, latest.timestamp(), trigger="catch-up")
    return Reconciled(added, removed, missed, caught)
