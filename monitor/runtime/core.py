"""The running state of one vigia process, and the work each scheduled job does on it.

The configuration in force, the observer that folds results into states, the probe runner, the
store and its single writer, the security audit, RADIUS usage and vigia's own counters live here;
the daemon (monitor.daemon) creates one Runtime, hands its methods to the jobs table, and swaps its
configuration on a reload. What the web room shows after a cycle (the exposition, the API, the
status page) and what the jobs room knows of drills reach it as callables, so this room imports
neither.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import config as cfg
from domain.agents import MAX_AGE
from domain.findings import Policy
from kernel.heap import Heap
from monitor.runtime.audit import Audit
from monitor.runtime.cycle import CycleOutcome, CycleRunner, spread_window
from monitor.runtime.observer import Observer
from monitor.runtime.stats import DaemonStats
from monitor.runtime.usage import RadiusUsage
from monitor.runtime.writer import Batch, StoreWriter
from probes.result import ProbeResult
from store.db import Store

log = logging.getLogger("vigia")

# The drills' last verdicts and the services' overdue flags at a time, for the security audit.
DrillAuditView = Callable[[float], tuple[dict[str, str], dict[str, bool]]]


def security(config: cfg.Config) -> tuple[Policy, int]:
    return config.security.policy(), config.security.no_data_after


class Runtime:
    def __init__(self, config: cfg.Config, stats: DaemonStats, store: Store) -> None:
        self.config = config
        self.stats = stats
        self.store = store
        self.lock = threading.RLock()  # the observer's states, swapped whole by a reload
        self.observer = Observer(config)
        self.runner = CycleRunner(max_in_flight=config.probing.max_in_flight)
        stats.probe_max_in_flight = config.probing.max_in_flight
        self.writer = StoreWriter(store, stats, config.state_dir)
        self.audit = Audit(*security(config))
        self.radius: RadiusUsage | None = None
        if config.radius is not None and any(z.radius for z in config.zones):
            self.radius = RadiusUsage(config.radius, config.zones, config.timezone)
        self.first_cycle_done: set[float] = set()
        self.heap = Heap()
        self.cycles_since = time.time()
        self.running_since = time.time()
        # Called after every cycle, in order (the web room's exposition, API and status page).
        self.after_cycle: list[Callable[[], None]] = []
        # The drills' view for the audit, and a check for runs other processes journaled (jobs room).
        self.drill_audit: DrillAuditView | None = None
        self.drills_changed: Callable[[], None] | None = None

    # -- start, reload, stop ---------------------------------------------------------

    def agent_results(self, zone: str, results: list[ProbeResult]) -> None:
        """A zone agent's results as they are stored (an ingest thread): the zone's inside view."""
        with self.lock:
            self.observer.inside_results(zone, results)

    def restore(self) -> None:
        """States, findings and today's SNMP counters as the store last had them."""
        self.audit.load(self.store.load_findings())
        stored = self.store.load_states()
        today = datetime.now(UTC).astimezone(self.config.timezone).strftime("%Y-%m-%d")
        snmp_today = self.store.usage_for_day(today, "snmp")
        with self.lock:
            self.observer.restore(stored, snmp_today, today)
        self.running_since = time.time()

    def reconfigure(self, new: cfg.Config) -> None:
        with self.lock:
            self.observer.reconfigure(new)
            self.config = new
            self.audit.configure(*security(new))
            self.first_cycle_done &= new.cycle_intervals
        self.heap.thaw()

    def close(self) -> None:
        self.runner.close()
        if self.radius is not None:
            self.radius.close()
        self.heap.close()

    # -- the jobs' work --------------------------------------------------------------

    def run_cycle(self, interval: float) -> None:
        """One probe cycle of the targets checked every ``interval``: probe, fold, hand the batch
        to the writer, then refresh what shows it."""
        with self.lock:
            targets = [t for t in self.config.targets if t.interval == interval]
            spread = self.config.probing.spread
            agents_only = not targets and interval in self.config.cycle_intervals
        if not targets and not agents_only:
            return
        if agents_only:  # zones judged by their agents alone: nothing to probe, the fold still runs
            outcome = CycleOutcome([], 0.0, 0)
        else:
            outcome = self.runner.run(targets, spread=spread_window(interval, max(t.timeout for t in targets), spread))
        self.stats.add("probe_exceptions", outcome.exceptions)
        engine = self.runner.engine
        self.stats.probe_cancelled = engine.cancelled
        self.stats.probe_late = engine.late
        self.stats.probe_held = engine.held
        self.stats.probe_loop_lag = engine.take_loop_lag()
        self.stats.probe_max_in_flight = engine.max_in_flight
        self.stats.probe_in_flight_peak = engine.peak_in_flight
        now = datetime.now(UTC)
        with self.lock:
            folded = self.observer.fold(interval, outcome.results, now)
        if folded.usage:
            rows = folded.usage
            self.writer.run_in_writer("snmp usage", lambda: self.store.write_usage("snmp", rows, [], time.time()))
        found = self.audit.after_cycle(outcome.results, {t.id: t for t in targets}, now.timestamp())
        self.writer.submit(Batch(outcome.results, folded.changes, folded.samples, found))
        with self.lock:
            with_agents = {z.id: z for z in self.config.zones if z.agent is not None}
        if with_agents:  # after the cycle's batch, on the writer: its periods are stored first
            self.writer.run_in_writer("agent refolds", lambda: self.store.refold(with_agents))
        self.stats.cycle_ended(interval, duration=outcome.duration)
        if self.drills_changed is not None:
            self.drills_changed()
        try:
            for refresh in self.after_cycle:
                refresh()
        finally:
            # Ready (/-/ready) once /metrics, the API and the status page show the cycle: a client that
            # waits for ready reads what the first cycle found, not the start-up's empty exposition.
            self.first_cycle_done.add(interval)
        if self.ready():
            self.heap.settle()

    def radius_job(self) -> bool:
        """Read RADIUS accounting; whether anything was read (the caller refreshes the metrics)."""
        radius = self.radius
        if radius is None:
            return False
        got = radius.run()
        if got is not None:
            daily, monthly = got
            self.writer.run_in_writer(
                "radius usage", lambda: self.store.write_usage("radius", daily, monthly, time.time())
            )
        return True

    def audit_job(self) -> bool:
        """The security sweep; whether it found anything new to store (and show)."""
        now = time.time()
        drills: dict[str, str] | None = None
        overdue: dict[str, bool] | None = None
        if self.drill_audit is not None:
            drills, overdue = self.drill_audit(now)
        with self.lock:
            targets, states = self.config.targets, dict(self.observer.states)
        found = self.audit.sweep(now, targets, states, self.running_since, drills, overdue)
        if found:
            self.writer.submit(Batch([], [], findings=found))
        return bool(found)

    def rollup_job(self) -> None:
        now = time.time()
        store_cfg = self.config.store

        group = self.config.ha_group

        def work() -> None:
            hours = self.store.rollup(now)
            deleted = self.store.apply_retention(now, store_cfg.raw_retention, store_cfg.rollup_retention)
            log.info("rollup: %d hour(s) aggregated, %d raw result(s) past retention deleted", hours, deleted)
            # Zone agents' results are raw rows too; kept at least as long as an agent's outbox
            # may still deliver late ones (domain.agents.MAX_AGE), which a refold reads.
            gone = self.store.agents(group).forget_before(now - max(store_cfg.raw_retention, MAX_AGE))
            if gone:
                log.info("retention: %d zone agent result(s) deleted", gone)

        self.writer.run_in_writer("rollup", work)

    # -- how it stands ---------------------------------------------------------------

    def ready(self) -> bool:
        """Whether every interval group has finished a cycle (and its refreshes)."""
        return self.config.cycle_intervals <= self.first_cycle_done

    def cycles_running(self, now: float) -> bool:
        """Whether every interval group keeps finishing cycles: what the watchdog ping vouches for.

        A cycle owns its deadline and ends within its interval, so a group with no cycle ended
        for three intervals (at least five seconds more than one) is wedged, not slow.
        """
        for interval in self.config.cycle_intervals:
            c = self.stats.cycles.get(interval)
            last = max(c.last_end if c is not None else 0.0, self.cycles_since)
            if now - last > max(3 * interval, interval + 5.0):
                return False
        return True
