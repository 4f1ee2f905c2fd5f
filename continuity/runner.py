"""Running a drill: preconditions -> method -> verify -> rollback (always) -> post_verify.

- preconditions are a gate: if one fails nothing is disrupted (verdict precondition_failed);
- the method's start marks the disruption; verify polls until every check passes (the service
  is restored) or the drill's max_duration runs out;
- rollback runs in a ``finally`` once the method has started, whatever happened;
- RTO achieved = restored - disruption start; RPO achieved = drill start - recovery point
  (from a sql or file step marked ``recovery_point``).

Verdicts: passed, failed, aborted (the method itself failed), interrupted (the process died
mid-drill; journaled at the next start), missed (not run within its misfire grace), skipped
(paused, or another drill of the service was running), precondition_failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from continuity import commands, steps
from continuity.gate import Fence, Gate, Interrupted
from continuity.journal import Journal
from continuity.plan import Drill, Plan
from continuity.records import RunRecord, StepResult, iso
from domain.drills import Verdict
from kernel.errors import DrillError, short
from kernel.progress import NOBODY, Progress
from probes.engine import ProbeEngine

log = logging.getLogger(__name__)

PASSED, FAILED, ABORTED, INTERRUPTED = Verdict.PASSED, Verdict.FAILED, Verdict.ABORTED, Verdict.INTERRUPTED
MISSED, SKIPPED, PRECONDITION_FAILED = Verdict.MISSED, Verdict.SKIPPED, Verdict.PRECONDITION_FAILED


# A period seen due is taken for owed only this long after its time: before, the leader's own job
# (which fires within milliseconds of the minute) is claiming it.
OWED_AFTER = 5.0


class Runner:
    """Runs drills of one plan into one journal; one drill at a time per service."""

    def __init__(self, plan: Plan, journal: Journal, *, probe_engine: ProbeEngine | None = None) -> None:
        self.plan = plan
        self.journal = journal
        # Probe steps run on the daemon's probe engine; a manual `vigia drill run` starts its own on first use.
        self._probe_engine = probe_engine
        self._own_engine = False
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self.paused = False
        self.on_record: Callable[[RunRecord], None] | None = None
        # A person at a terminal (`vigia drill run`): each step as it starts and ends, each retry.
        self.progress: Progress = NOBODY
        self.gate: Gate | None = None  # several instances: scheduled work runs where it admits it

    def probe_engine(self) -> ProbeEngine:
        with self._lock:
            if self._probe_engine is None:
                self._probe_engine, self._own_engine = ProbeEngine(), True
            return self._probe_engine

    def close(self) -> None:
        """Stop the probe engine this runner started itself (never the daemon's)."""
        with self._lock:
            if self._own_engine and self._probe_engine is not None:
                self._probe_engine.close()
                self._probe_engine, self._own_engine = None, False

    # -- entry points --------------------------------------------------------

    def run_scheduled(self, drill_id: str, scheduled_for: float, *, trigger: str = "scheduled") -> RunRecord | None:
        """A scheduled (or catch-up) run, through the gate if there is one; None: not run here."""
        fence = self.gate.enter(drill_id, scheduled_for) if self.gate is not None else None
        if self.gate is not None and fence is None:
            # Noted as due: if the leader died at this very second nobody claims it, and the next
            # leader runs it late or journals it missed (catch_up_owed) instead of losing it.
            self.gate.owe(drill_id, scheduled_for)
            log.info("drill %s due %s: another instance runs it", drill_id, iso(scheduled_for))
            return None
        record = None
        try:
            record = self.run(drill_id, trigger=trigger, scheduled_for=scheduled_for, fence=fence)
        finally:
            if fence is not None:
                fence.done(record is not None and record.verdict == PASSED, record.verdict if record else "error")
        return record

    def run(
        self,
        drill_id: str,
        *,
        trigger: str = "manual",
        operator: str | None = None,
        scheduled_for: float | None = None,
        fence: Fence | None = None,
    ) -> RunRecord:
        drill = self.plan.drill(drill_id)
        record = RunRecord.new(self.plan, drill, trigger, operator, scheduled_for)
        if self.paused:
            return self._finish(record, SKIPPED, "drills are paused")
        with self._lock:
            if drill.service in self._busy:
                busy = True
            else:
                busy = False
                self._busy.add(drill.service)
        lock = None if busy else self.journal.try_lock_service(drill.service)
        if busy or lock is None:
            if not busy:
                with self._lock:
                    self._busy.discard(drill.service)
            return self._finish(record, SKIPPED, f"another drill of service {drill.service} is running")
        try:
            # A run of this service that a crash interrupted is recovered (rolled back) first.
            self._recover(drill.service)
            return self._run(drill, record, fence)
        finally:
            self.journal.unlock_service(lock)
            with self._lock:
                self._busy.discard(drill.service)

    def record_missed(self, drill_id: str, scheduled_for: float, reason: str) -> RunRecord | None:
        """Journal a run that did not happen; through the gate, so one instance journals it."""
        fence = self.gate.enter(drill_id, scheduled_for) if self.gate is not None else None
        if self.gate is not None and fence is None:
            return None
        drill = self.plan.drill(drill_id)
        record = self._finish(RunRecord.new(self.plan, drill, "scheduled", None, scheduled_for), MISSED, reason)
        if fence is not None:
            fence.done(False, MISSED)
        return record

    def catch_up_owed(self, start: Callable[[str, float], object], now: float | None = None) -> list[RunRecord]:
        """Runs other instances saw fall due while no instance led (the leader killed at the due
        second): each started late through ``start(drill, due)`` while within its drill's misfire
        grace, else journaled missed here. Only the leader sees any."""
        if self.gate is None:
            return []
        now = time.time() if now is None else now
        missed = []
        for drill_id, due_at in self.gate.owed():
            drill = self.plan.drills.get(drill_id)
            if drill is None or now - due_at < OWED_AFTER:
                continue  # no longer in the plan; or just due, and the leader's own job claims it now
            if now - due_at <= drill.misfire_grace:
                log.warning("drill %s was due %s while no instance led: running it now", drill_id, iso(due_at))
                start(drill_id, due_at)
                continue
            why = "no instance led when it was due, and the next leader came after its misfire grace"
            record = self.record_missed(drill_id, due_at, why)
            if record is not None:
                missed.append(record)
        return missed

    def recover(self) -> list[RunRecord]:
        """Runs left unfinished by a crash: stop what they left running, roll back what they
        disrupted, journal them as interrupted. A run whose service is locked is alive, not crashed."""
        self.journal.repair()  # a crash mid-append leaves a torn line: set it aside first
        out = []
        for service in {str(m.get("record", {}).get("service", "")) for m in self.journal.unfinished()}:
            lock = self.journal.try_lock_service(service) if service else None
            if service and lock is None:
                continue  # another process runs a drill of this service right now
            try:
                out += self._recover(service)
            finally:
                if lock is not None:
                    self.journal.unlock_service(lock)
        return out

    def _recover(self, service: str) -> list[RunRecord]:
        """Recover the unfinished runs of ``service``; the caller holds its lock."""
        out = []
        for marker in self.journal.unfinished():
            if str(marker.get("record", {}).get("service", "")) != service:
                continue
            run_id = str(marker.get("run_id"))
            drill = self.plan.drills.get(str(marker.get("drill")))
            record = (
                RunRecord(**{k: v for k, v in marker.get("record", {}).items() if k != "steps"})
                if (marker.get("record"))
                else None
            )
            pgid, pg_start = marker.get("pgid"), marker.get("pg_start")
            if isinstance(pgid, int) and commands.kill_left_behind(
                pgid, pg_start if isinstance(pg_start, int) else None
            ):
                log.warning("drill run %s: stopped the processes its interrupted step left running", run_id)
            if drill is None or record is None:
                log.error("unfinished drill run %s cannot be recovered: its drill is no longer in the plan", run_id)
                self.journal.end(run_id)
                continue
            record.steps = []
            elsewhere = self._taken_over(record)
            if elsewhere is not None:
                settled = elsewhere.startswith("recovered")
                level = logging.WARNING if settled else logging.INFO
                log.log(level, "drill %s run %s: %s", drill.id, run_id, elsewhere)
                if settled:
                    self.journal.end(run_id)
                continue
            if record.disruption_start is None:
                # Stopped in its preconditions: nothing was disrupted, so nothing is rolled back.
                log.warning("drill %s run %s was interrupted before its method: no rollback needed", drill.id, run_id)
                out.append(self._finish(record, INTERRUPTED, "the process stopped before the method began"))
                continue
            log.warning("drill %s run %s was interrupted: running its rollback now", drill.id, run_id)
            record.rollback_ok = self._phase(drill, record, "rollback", drill.rollback) if drill.rollback else None
            out.append(
                self._finish(
                    record, INTERRUPTED, "the process stopped during the drill; rollback ran at the next start"
                )
            )
        return out

    def _taken_over(self, record: RunRecord) -> str | None:
        """For a scheduled run under a gate, why its recovery is not this instance's (None: it is).

        Its period's claim says: the leader that took it over recovered and journaled it already,
        or will (the claim still runs: the takeover waits until this process's old heartbeat is
        stale, and this process may be that leader then)."""
        if self.gate is None or record.trigger == "manual" or record.scheduled_for is None:
            return None
        settled = self.gate.settled(record.drill, datetime.fromisoformat(record.scheduled_for).timestamp())
        if settled is None:
            return None  # never claimed (run before the instances shared a database): recovered here
        if settled:
            return "recovered by the leader that took it over (journaled there)"
        return "left to the leader, which takes over runs whose instance stopped"

    def take_over(self) -> list[RunRecord]:
        """Scheduled runs another instance left unfinished when it stopped: each is claimed once
        (by this leader), rolled back if it had begun disrupting, and journaled interrupted here."""
        if self.gate is None:
            return []
        out = []
        for run in self.gate.interrupted():
            drill = self.plan.drills.get(run.drill_id)
            if drill is None:
                log.error("drill %s due %s was interrupted on %s and is no longer in the plan: not rolled back",
                          run.drill_id, iso(run.scheduled_for), run.holder)  # fmt: skip
                continue
            lock = self.journal.try_lock_service(drill.service)
            if lock is None:
                continue  # a drill of the service runs here right now: the next sweep takes it over
            try:
                fence = self.gate.take_over(run)
                if fence is None:
                    continue  # another leader got there first
                record = None
                try:
                    record = self._roll_back_elsewhere(drill, run)
                    out.append(record)
                finally:
                    fence.done(False, record.verdict if record is not None else "error")
            finally:
                self.journal.unlock_service(lock)
        return out

    def _roll_back_elsewhere(self, drill: Drill, run: Interrupted) -> RunRecord:
        record = RunRecord.new(self.plan, drill, "scheduled", None, run.scheduled_for)
        # This instance's own marker of the run (its previous process ran it): what that step
        # left running is stopped first, and the marker ends with the run.
        this_run = {"drill": drill.id, "scheduled_for": record.scheduled_for}
        mine = [m for m in self.journal.unfinished() if this_run.items() <= m.get("record", {}).items()]
        for marker in mine:
            pgid, pg_start = marker.get("pgid"), marker.get("pg_start")
            if isinstance(pgid, int):
                commands.kill_left_behind(pgid, pg_start if isinstance(pg_start, int) else None)
        if run.disrupted and drill.rollback:
            log.warning("drill %s due %s was interrupted on %s: running its rollback here",
                        drill.id, record.scheduled_for, run.holder)  # fmt: skip
            record.rollback_ok = self._phase(drill, record, "rollback", drill.rollback)
        for marker in mine:
            self.journal.end(str(marker.get("run_id")))
        why = "during its method; its rollback ran" if run.disrupted else "before its method; nothing to roll back"
        return self._finish(record, INTERRUPTED, f"{run.holder} stopped {why} here after the takeover")

    # -- lifecycle -----------------------------------------------------------

    def _run(self, drill: Drill, record: RunRecord, fence: Fence | None = None) -> RunRecord:
        started = time.time()
        deadline = time.monotonic() + drill.max_duration
        self._mark(drill, record)
        if not self._phase(drill, record, "preconditions", drill.preconditions):
            return self._finish(record, PRECONDITION_FAILED, "a precondition failed: nothing was disrupted")
        verdict, reason = PASSED, ""
        restored: float | None = None
        disrupted: float | None = None
        try:
            if drill.method:
                disrupted = time.time()
                record.disruption_start = iso(disrupted)
                self._mark(drill, record)  # a crash from here on leaves a disrupted service to roll back
                if not self._phase(drill, record, "method", drill.method, fence):
                    fenced = record.steps[-1].type == "fence"
                    verdict, reason = ABORTED, record.steps[-1].detail if fenced else "a method step failed"
            if verdict == PASSED and drill.verify:
                restored = self._poll(drill, record, deadline)
                if restored is None:
                    verdict, reason = FAILED, "verify did not pass before max_duration"
                else:
                    record.restored_at = iso(restored)
        finally:
            if drill.method or drill.rollback:
                record.rollback_ok = self._phase(drill, record, "rollback", drill.rollback) if drill.rollback else None
        if drill.post_verify and not self._phase(drill, record, "post_verify", drill.post_verify):
            verdict, reason = (FAILED, "post_verify failed after rollback") if verdict == PASSED else (verdict, reason)
        if record.rollback_ok is False and verdict == PASSED:
            verdict, reason = FAILED, "rollback failed"
        beyond = record.measure(started, disrupted, restored)
        if verdict == PASSED and beyond is not None:
            verdict, reason = FAILED, beyond
        return self._finish(record, verdict, reason)

    def _mark(self, drill: Drill, record: RunRecord, process: tuple[int, int | None] | None = None) -> None:
        head = {k: v for k, v in record.to_dict().items() if k != "steps"}
        marker: dict[str, Any] = {"run_id": record.run_id, "drill": drill.id, "record": head}
        if process is not None:  # the running step's process group: recovery stops it before rolling back
            marker["pgid"], marker["pg_start"] = process
        self.journal.begin(record.run_id, marker)

    def _finish(self, record: RunRecord, verdict: str, reason: str) -> RunRecord:
        record.verdict, record.reason = verdict, reason
        record.ended_at = iso(time.time())
        self.journal.append(record.to_dict())
        self.journal.end(record.run_id)
        log.info("drill %s run %s: %s%s", record.drill, record.run_id, verdict, f" ({reason})" if reason else "")
        if self.on_record is not None:
            self.on_record(record)
        return record

    def _phase(self, drill: Drill, record: RunRecord, phase: str, todo: list[Any], fence: Fence | None = None) -> bool:
        ok = True
        for i, step in enumerate(todo):
            why = fence.check() if fence is not None else None
            if why is not None:  # lost the lease: no further disruption; the rollback still runs
                now = iso(time.time()) or ""
                record.steps.append(StepResult(phase, i, "fence", "fence", now, now, 0.0, False, f"fenced: {why}"))
                return False
            result = self._step(drill, record, phase, i, step)
            record.steps.append(result)
            if not result.ok:
                ok = False
                if phase != "rollback":  # a rollback tries every step; other phases stop at the first failure
                    break
        return ok

    def _poll(self, drill: Drill, record: RunRecord, deadline: float) -> float | None:
        attempts = 0
        while True:
            attempts += 1
            results = [self._step(drill, record, "verify", i, s) for i, s in enumerate(drill.verify)]
            done = all(r.ok for r in results)
            left = deadline - time.monotonic()
            if done or left <= 0:
                for r in results:
                    r.attempts = attempts
                record.steps.extend(results)
                return time.time() if done else None
            failing = "; ".join(f"{r.name}: {r.detail or 'failed'}" for r in results if not r.ok)
            wait = min(drill.verify_poll, max(0.0, left))
            self.progress.say(
                f"verify attempt {attempts} not passing yet ({failing}); next try in {wait:.0f}s, "
                f"{left:.0f}s left of max_duration {drill.max_duration:g}s"
            )
            time.sleep(wait)

    # -- steps ---------------------------------------------------------------

    def _step(self, drill: Drill, record: RunRecord, phase: str, index: int, step: Any) -> StepResult:
        t0, m0 = time.time(), time.monotonic()
        res = StepResult(phase, index, step.name or step.type, step.type, iso(t0) or "", "", 0.0, False)
        self.progress.say(f"{phase}[{index}] {res.name}: started")
        ctx = steps.StepContext(
            self.plan, drill, record, self.journal, self.probe_engine, lambda p: self._mark(drill, record, p)
        )
        try:
            steps.execute(ctx, res, step)
        except DrillError as exc:
            res.ok, res.detail = False, str(exc)
        except Exception as exc:  # a failing step is data in the journal, never a crash of the daemon
            res.ok, res.detail = False, short(exc)
        res.ended_at = iso(time.time()) or ""
        res.duration_seconds = round(time.monotonic() - m0, 3)
        outcome = "ok" if res.ok else f"FAILED: {res.detail}"
        self.progress.say(f"{phase}[{index}] {res.name}: {outcome} ({res.duration_seconds:g}s)")
        return res
