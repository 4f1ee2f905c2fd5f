"""The daemon's side of the continuity drills: starting them on the scheduler (recovery of
interrupted runs, stored schedules reconciled, missed runs caught up), and each drill's status
read back from the journal, which `vigia drill run` in another process appends to as well."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler

from continuity import schedule as drill_schedule
from continuity.journal import Journal
from continuity.plan import Plan
from continuity.runner import Runner
from continuity.status import DrillStatus, drill_status, service_status
from kernel.filestamp import Stamp, stamp
from monitor.runtime.stats import DaemonStats
from probes.engine import ProbeEngine

log = logging.getLogger("vigia")


class DrillWatch:
    def __init__(
        self,
        plan: Plan,
        state_dir: str,
        *,
        paused: bool,
        engine: ProbeEngine,
        stats: DaemonStats,
        on_change: Callable[[], None],
        sweep_every: float = 30.0,
    ) -> None:
        self.runner = Runner(plan, Journal(os.path.join(state_dir, "drills")), probe_engine=engine)
        self.runner.paused = paused
        self.runner.on_record = self._on_record
        self.status: dict[str, DrillStatus] = {}
        self._stats = stats
        self._on_change = on_change
        self._seen: Stamp | None = None
        self.sweep_every = sweep_every
        self._scheduler: BaseScheduler | None = None

    def start(self, scheduler: BaseScheduler) -> None:
        """Recover interrupted runs, reconcile stored schedules, catch up missed ones."""
        runner = self.runner
        if not runner.journal.repair():
            log.warning("the drill journal %s is not writable: a torn last line stays", runner.journal.file)
        self.refresh()
        # Interrupted runs: those another instance (or this one's previous process) left behind
        # are taken over by the leader, the rest recovered from this instance's own markers. At
        # start, then every renewal: a leader that dies mid-drill is rolled back by the next.
        self._scheduler = scheduler
        scheduler.add_job(self.sweep, id="drill-recovery", name="roll back interrupted drills")
        scheduler.add_job(
            self.sweep, "interval", seconds=self.sweep_every, id="drill-takeover", name="take over interrupted drills"
        )
        drill_schedule.install(runner)
        done = drill_schedule.reconcile(
            scheduler,
            runner,
            catch_up=lambda drill_id, due: scheduler.add_job(
                runner.run_scheduled,
                args=[drill_id, due.timestamp()],
                kwargs={"trigger": "catch-up"},
                id=f"catch-up:{drill_id}",
                name=f"catch up drill {drill_id}",
                replace_existing=True,
            ),
        )
        log.info(
            "drills: %d scheduled, %d new, %d removed, %d missed while down, %d caught up",
            len(runner.plan.triggers),
            len(done.added),
            len(done.removed),
            len(done.missed),
            len(done.caught_up),
        )

    def start_running(self, scheduler: BaseScheduler) -> None:
        """``start`` on a scheduler already running (a plan added by a reload), paused meanwhile:
        nothing fires before the stored schedules are reconciled."""
        scheduler.pause()
        try:
            self.start(scheduler)
        finally:
            scheduler.resume()

    def sweep(self) -> None:
        runner = self.runner
        try:
            runner.take_over()
            if runner.journal.unfinished():
                runner.recover()
            runner.catch_up_owed(self._start_late)
        except Exception:  # a store or journal error: logged, tried again at the next sweep
            log.exception("cannot recover interrupted drill runs (tried again in %gs)", self.sweep_every)

    def _start_late(self, drill_id: str, due: float) -> None:
        """A run owed since a leader change, on a job of its own (a drill takes minutes; the sweep
        goes on every renewal). Its claim makes a second start of the same period a no-op."""
        assert self._scheduler is not None
        self._scheduler.add_job(
            self.runner.run_scheduled,
            args=[drill_id, due],
            kwargs={"trigger": "catch-up"},
            id=f"owed:{drill_id}:{due:.0f}",
            name=f"run drill {drill_id} owed since a leader change",
            replace_existing=True,
        )

    def replan(self, scheduler: BaseScheduler, plan: Plan, paused: bool) -> None:
        """A reloaded plan: its schedules reconciled with the stored ones."""
        self.runner.plan = plan
        self.runner.paused = paused
        drill_schedule.reconcile(scheduler, self.runner)
        self.refresh()

    def refresh(self) -> None:
        # Drill status is one concern among many: whatever breaks in it (a journal an editor
        # mangled, a disk error) is logged and counted, and never stops probe cycles or metrics.
        runner = self.runner
        try:
            self.status = drill_status(runner.plan, list(runner.journal.runs()))
        except Exception as exc:
            self._stats.add("drill_status_errors")
            log.error("cannot read the drill journal %s (drill metrics keep their last values): %s",
                      runner.journal.file, exc)  # fmt: skip
        self._seen = stamp(runner.journal.file)

    def refresh_if_changed(self) -> None:
        # Manual runs (`vigia drill run`) append to the journal from another process.
        if stamp(self.runner.journal.file) != self._seen:
            self.refresh()

    def audit_view(self, now: float) -> tuple[dict[str, str], dict[str, bool]]:
        """Each drill's last verdict and each service's overdue flag, for the security audit."""
        self.refresh_if_changed()
        statuses, plan = self.status, self.runner.plan
        drills = {d: (statuses[d].last_verdict if d in statuses else "") for d in plan.drills}
        overdue = {s.service: s.overdue for s in service_status(plan, statuses, now).values()}
        return drills, overdue

    def missed(self, job_id: str, scheduled_for: float) -> None:
        """The scheduler could not start a drill's job in time: journaled as missed."""
        drill_id = job_id.removeprefix(drill_schedule.JOB_PREFIX)
        if drill_id in self.runner.plan.drills:
            self.runner.record_missed(
                drill_id, scheduled_for, "the scheduler could not start it within its misfire grace"
            )

    def _on_record(self, _record: object) -> None:
        self.refresh()
        self._on_change()
