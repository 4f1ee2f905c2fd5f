"""The vigia daemon: wires config, scheduler, probes, state, store and /metrics together.

Threads: APScheduler's worker runs the cycles; one writer thread owns every
store write (SQLite wants one writer); the HTTP server answers scrapes from the
cached exposition; the main thread waits for signals (SIGTERM/SIGINT stop,
SIGHUP reload).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent

import config as cfg
from continuity import plan as continuity_plan
from continuity import schedule as drill_schedule
from continuity.plan import Plan
from continuity.status import DrillStatus
from domain.findings import Finding, Policy
from domain.incidents import Incident
from domain.state import TargetState
from domain.traffic import ZoneTraffic
from domain.zone_state import ZoneState
from domain.zones import Zone
from kernel.errors import ConfigError, ProbeSetupError, VigiaError
from monitor.jobs import table as jobs
from monitor.jobs.drillwatch import DrillWatch
from monitor.jobs.leadership import Leadership
from monitor.jobs.month import MonthJobs
from monitor.runtime.audit import Audit
from monitor.runtime.cycle import CycleRunner, spread_window
from monitor.runtime.observer import Observer
from monitor.runtime.stats import DaemonStats
from monitor.runtime.usage import RadiusSnapshot, RadiusUsage
from monitor.runtime.writer import Batch, StoreWriter
from monitor.sdnotify import Notifier
from monitor.version import vigia_version
from monitor.web.exposition import Exposition
from monitor.web.http import MetricsServer
from monitor.web.publisher import Publisher
from monitor.web.webconfig import WebGuard
from probes.engine import check_capacity, sockets_needed
from store.db import Store, safe_url
from store.lease import Identity, Lease

log = logging.getLogger("vigia")


def load(path: str, state_dir: str | None) -> tuple[cfg.Config, Plan | None]:
    """Everything the daemon takes from its files, validated: the configuration, the continuity
    plan it names, and whether its checks fit the open-files limit (which this raises). A start
    and a reload both call this one function, so a file that reloads is a file that starts."""
    conf = cfg.parse(path, state_dir=state_dir)
    plan = continuity_plan.parse(conf.continuity_plan) if conf.continuity_plan is not None else None
    served = conf.web.max_connections + (conf.status_page.max_connections if conf.status_page is not None else 0)
    check_capacity(sockets_needed([(t.probe, t.settings) for t in conf.targets]), conf.probing.max_in_flight, served)
    return conf, plan


def give_back_memory() -> None:
    """What reading a large file took (the YAML nodes of megabytes) back to the system: Python
    frees the objects, but glibc keeps the freed heap unless asked (a refused 3 MB reload left the
    daemon 50 MB larger for good)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


class Daemon:
    def __init__(
        self,
        config_path: str,
        *,
        state_dir: str | None = None,
        listen: str | None = None,
        web_config: str | None = None,
    ) -> None:
        self.config_path = config_path
        self._state_dir_override = state_dir
        self.config, plan = load(config_path, state_dir)
        self.listen = listen or self.config.web.listen
        if listen is not None:
            try:
                cfg.WebSettings(listen=listen)
            except ValueError as exc:
                raise VigiaError(f"--listen {listen!r}: {_first_error(exc)}") from None
        self.stats = DaemonStats(version=vigia_version())
        self.web = WebGuard(web_config or self.config.web.config_file, self._on_web_reload)
        self.notifier = Notifier()
        self._cycles_since = time.time()
        self._watchdog_quiet = False
        self._lock = threading.RLock()
        self.observer = Observer(self.config)
        self._first_cycle_done: set[float] = set()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.runner = CycleRunner(max_in_flight=self.config.probing.max_in_flight)
        self.stats.probe_max_in_flight = self.config.probing.max_in_flight
        self.exposition = Exposition(self)
        self.store = Store(self.config.store_url(), self.config.instance)
        self.writer = StoreWriter(self.store, self.stats, self.config.state_dir)
        self.scheduler = jobs.scheduler(self.config.timezone, self.store.engine, self.config.instance)
        self.audit = Audit(*self._security(self.config))
        self._running_since = time.time()
        lease = Lease(
            self.store.engine,
            Identity.mine(self.config.instance, self.config.ha_group, self.stats.version),
            ttl=self.config.cluster.lease_ttl,
            advisory=self.config.cluster.advisory_locks,
        )
        self.leadership = Leadership(lease, self.stats)
        self.month_jobs = MonthJobs(
            config_path, lambda: self.config, self.leadership, self.stats, self.exposition.refresh
        )
        self.drills: DrillWatch | None = None
        if plan is not None:
            self.drills = self._drill_watch(plan, self.config)
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self.server: MetricsServer | None = None
        self.publish = Publisher(lambda: self.config, self.store, self.observer, self._lock, self.current_states,
                                 self.current_zone_states, self.stats.version, self.stats.skipped_input)  # fmt: skip
        self.radius: RadiusUsage | None = None
        radius = self.config.radius
        if radius is not None and any(z.radius for z in self.config.zones):
            self.radius = RadiusUsage(radius, self.config.zones, self.config.timezone)

    def _drill_watch(self, plan: Plan, conf: cfg.Config) -> DrillWatch:
        return DrillWatch(
            plan,
            conf.state_dir,
            paused=conf.drills_paused,
            engine=self.runner.engine,
            stats=self.stats,
            on_change=self.exposition.refresh,
            sweep_every=self.leadership.interval,
        )

    def _on_web_reload(self, ok: bool) -> None:
        self.stats.web_config_ok = ok
        self.stats.web_config_reloads += 1
        self.exposition.refresh()

    # -- the view the metrics collector reads -------------------------

    def current_targets(self) -> tuple[cfg.Target, ...]:
        return self.config.targets

    def current_states(self) -> dict[str, TargetState]:
        with self._lock:
            return dict(self.states)

    def current_zones(self) -> tuple[Zone, ...]:
        return self.config.zones

    def current_zone_states(self) -> dict[str, ZoneState]:
        with self._lock:
            return dict(self.zone_states)

    def current_traffic(self) -> dict[str, ZoneTraffic]:
        with self._lock:
            return dict(self.traffic)

    def current_radius(self) -> RadiusSnapshot | None:
        return self.radius.snapshot if self.radius is not None else None

    def current_incidents(self) -> list[Incident]:
        return self.publish.incidents

    def current_timezone(self) -> ZoneInfo:
        return self.config.timezone

    def current_findings(self) -> list[Finding]:
        return self.audit.current()

    @staticmethod
    def _security(config: cfg.Config) -> tuple[Policy, int]:
        return config.security.policy(), config.security.no_data_after

    def ready(self) -> bool:
        intervals = {t.interval for t in self.config.targets}
        return intervals <= self._first_cycle_done

    # -- lifecycle -----------------------------------------------------

    def start(self) -> None:
        """Open the store, restore state, start the writer, HTTP server and scheduler."""
        try:
            os.makedirs(self.config.state_dir, exist_ok=True)
        except OSError as exc:
            raise VigiaError(f"cannot create the state directory {self.config.state_dir}: {exc.strerror}") from None
        log.info(
            "vigia %s starting: %d targets, store %s",
            self.stats.version,
            len(self.config.targets),
            safe_url(self.store.url),
        )
        self.store.migrate()
        self.store.start_run(socket.gethostname(), self.stats.version, time.time())
        self._restore_states()
        self._running_since = time.time()
        self.writer.start()
        self.exposition.refresh()
        try:
            self.server = MetricsServer(
                self.listen,
                self.exposition,
                self.ready,
                self.web,
                max_connections=self.config.web.max_connections,
                max_per_client=self.config.web.max_connections_per_client,
                api=self.publish.api,
            )
            self.server.start()
            self.stats.listeners[self.server.name] = self.server.counts
        except OSError as exc:
            raise VigiaError(f"cannot listen on {self.listen}: {exc.strerror or exc}") from None
        auth = " (basic auth)" if self.web.settings is not None and self.web.settings.users else ""
        log.info("serving /metrics on %s%s", self._metrics_url(), auth)
        self.publish.start()
        public = self.publish.public.server if self.publish.public is not None else None
        if public is not None:
            self.stats.listeners[public.name] = public.counts
        self.leadership.tick()  # before the drills' reconciliation, which journals misses through the gate
        self._schedule()
        self.scheduler.start(paused=True)
        if self.drills is not None:
            self.drills.runner.gate = self.leadership
            self.drills.start(self.scheduler)
        self.scheduler.resume()
        self.notifier.ready(self._status_line())

    def _metrics_url(self) -> str:
        host, port = (str(self.server.address[0]), self.server.port) if self.server is not None else ("", 0)
        return f"{'https' if self.web.tls else 'http'}://{host}:{port}/metrics"

    def _status_line(self) -> str:
        reload = "" if self.stats.reload_ok else "; last reload FAILED, running the previous configuration"
        return (
            f"{len(self.config.targets)} targets, {len(self.config.zones)} zones; serving {self._metrics_url()}{reload}"
        )

    def cycles_running(self, now: float) -> bool:
        """Whether every interval group keeps finishing cycles: what the watchdog ping vouches for.

        A cycle owns its deadline and ends within its interval, so a group with no cycle ended
        for three intervals (at least five seconds more than one) is wedged, not slow.
        """
        for interval in {t.interval for t in self.config.targets}:
            c = self.stats.cycles.get(interval)
            last = max(c.last_end if c is not None else 0.0, self._cycles_since)
            if now - last > max(3 * interval, interval + 5.0):
                return False
        return True

    def _watchdog_job(self) -> None:
        # Never takes the daemon's lock: a cycle wedged on it must silence the watchdog, not this job.
        # Cycles that finish while /metrics stands still are no service either.
        if self.cycles_running(time.time()) and self.metrics_moving(time.time()):
            self.notifier.watchdog()
            self._watchdog_quiet = False
        elif not self._watchdog_quiet:
            self._watchdog_quiet = True
            log.error("probe cycles have stopped finishing; withholding the systemd watchdog ping")

    def metrics_moving(self, now: float) -> bool:
        """Whether the exposition was rendered within three of the shortest interval (or 15 s)."""
        shortest = min((t.interval for t in self.config.targets), default=60.0)
        last = max(self.exposition.rendered_at, self._cycles_since)
        return now - last <= max(3 * shortest, shortest + 15.0)

    def _restore_states(self) -> None:
        self.audit.load(self.store.load_findings())
        stored = self.store.load_states()
        today = datetime.now(UTC).astimezone(self.config.timezone).strftime("%Y-%m-%d")
        snmp_today = self.store.usage_for_day(today, "snmp")
        with self._lock:
            self.observer.restore(stored, snmp_today, today)

    # The observer's state, as the collectors, the audit and the tests read it.
    @property
    def states(self) -> dict[str, TargetState]:
        return self.observer.states

    @property
    def zone_states(self) -> dict[str, ZoneState]:
        return self.observer.zone_states

    @property
    def traffic(self) -> dict[str, ZoneTraffic]:
        return self.observer.traffic

    def _schedule(self) -> None:
        self._cycles_since = time.time()
        hooks = jobs.Hooks(
            cycle=self.run_cycle,
            month_close=self.month_jobs.close_previous,
            month_rollup=self.month_jobs.roll_up_previous if self.store.dialect == "postgresql" else None,
            audit=self._audit_job,
            rollup=self._rollup_job,
            radius=self._radius_job if self.radius is not None else None,
            watchdog=self._watchdog_job if self.notifier.watchdog_interval is not None else None,
            lease=self._lease_job,
            operator_input=self.publish.read,
            singletons=self.month_jobs.recover,
        )
        radius_interval = self.radius.settings.interval if self.radius is not None else None
        rows = jobs.table(
            self.config,
            hooks,
            radius_interval=radius_interval,
            watchdog_interval=self.notifier.watchdog_interval,
            lease_interval=self.leadership.interval,
        )
        jobs.install(self.scheduler, rows)
        for t in self.config.targets:
            self.stats.track(t.interval)

    def _radius_job(self) -> None:
        radius = self.radius
        if radius is None:
            return
        got = radius.run()
        if got is not None:
            daily, monthly = got
            self.writer.run_in_writer(
                "radius usage", lambda: self.store.write_usage("radius", daily, monthly, time.time())
            )
        self.exposition.refresh()

    def _lease_job(self) -> None:
        if self.leadership.tick():
            self.exposition.refresh()  # vigia_leader must not wait for the next cycle to show it

    def _audit_job(self) -> None:
        now = time.time()
        drills: dict[str, str] | None = None
        overdue: dict[str, bool] | None = None
        if self.drills is not None:
            drills, overdue = self.drills.audit_view(now)
        with self._lock:
            targets, states = self.config.targets, dict(self.states)
        found = self.audit.sweep(now, targets, states, self._running_since, drills, overdue)
        if found:
            self.writer.submit(Batch([], [], findings=found))
            self.exposition.refresh()

    def _rollup_job(self) -> None:
        now = time.time()
        store_cfg = self.config.store

        def work() -> None:
            hours = self.store.rollup(now)
            deleted = self.store.apply_retention(now, store_cfg.raw_retention, store_cfg.rollup_retention)
            log.info("rollup: %d hour(s) aggregated, %d raw result(s) past retention deleted", hours, deleted)

        self.writer.run_in_writer("rollup", work)

    def current_drills(self) -> tuple[Plan | None, dict[str, DrillStatus]]:
        if self.drills is None:
            return None, {}
        return self.drills.runner.plan, self.drills.status

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        job_id = str(event.job_id)
        if job_id.startswith(drill_schedule.JOB_PREFIX):
            if self.drills is not None and event.code == EVENT_JOB_MISSED:
                self.drills.missed(job_id, event.scheduled_run_time.timestamp())
            return
        if not job_id.startswith(jobs.CYCLE_PREFIX):
            return
        interval = float(job_id.removeprefix(jobs.CYCLE_PREFIX))
        if interval in self.stats.cycles:
            self.stats.cycle_ended(interval, skipped=True)
        log.warning("probe cycle every %gs skipped: the previous one was still running", interval)

    def run_cycle(self, interval: float) -> None:
        with self._lock:
            targets = [t for t in self.config.targets if t.interval == interval]
            spread = self.config.probing.spread
        if not targets:
            return
        outcome = self.runner.run(targets, spread=spread_window(interval, max(t.timeout for t in targets), spread))
        self.stats.add("probe_exceptions", outcome.exceptions)
        engine = self.runner.engine
        self.stats.probe_cancelled = engine.cancelled
        self.stats.probe_max_in_flight = engine.max_in_flight
        self.stats.probe_in_flight_peak = engine.peak_in_flight
        now = datetime.now(UTC)
        with self._lock:
            folded = self.observer.fold(interval, outcome.results, now)
        if folded.usage:
            rows = folded.usage
            self.writer.run_in_writer("snmp usage", lambda: self.store.write_usage("snmp", rows, [], time.time()))
        found = self.audit.after_cycle(outcome.results, {t.id: t for t in targets}, now.timestamp())
        self.writer.submit(Batch(outcome.results, folded.changes, folded.samples, found))
        self.stats.cycle_ended(interval, duration=outcome.duration)
        if self.drills is not None:
            self.drills.refresh_if_changed()
        try:
            self.exposition.refresh()
            self.publish.after_cycle()
        finally:
            # Ready (/-/ready) once /metrics, the API and the status page show the cycle: a client that
            # waits for ready reads what the first cycle found, not the start-up's empty exposition.
            self._first_cycle_done.add(interval)

    def reload(self) -> bool:
        """Re-read the config; on any error keep running the old one and say why. What is
        checked is exactly what a start checks (``load``): a file that reloads also starts."""
        loaded = self._load_new()
        return loaded is not None and self._apply(*loaded)

    def _load_new(self) -> tuple[cfg.Config, Plan | None] | None:
        """The reload's reading and validation (seconds for a large file: no lock held); None,
        said and counted, when the new files cannot run."""
        self.stats.reloads += 1
        try:
            return load(self.config_path, self._state_dir_override)
        except (ConfigError, ProbeSetupError) as exc:
            self._reload_failed(str(exc))
        except Exception as exc:  # a bug in validation must not take the running daemon down
            log.exception("reload failed, still running the previous configuration: %s", exc)
            self._reload_failed(None)
        return None

    def _apply(self, new: cfg.Config, new_plan: Plan | None) -> bool:
        """A validated configuration put in place of the running one."""
        if new.probing.max_in_flight != self.config.probing.max_in_flight:
            log.warning("probing.max_in_flight changes take effect after a restart")
        if (new.store, new.web, new.state_dir, new.ha_group, new.cluster) != (
            self.config.store,
            self.config.web,
            self.config.state_dir,
            self.config.ha_group,
            self.config.cluster,
        ):
            log.warning("store, web, state_dir, ha_group and cluster changes take effect after a restart")
        if new_plan is None and self.drills is not None:
            log.warning("removing the continuity plan takes effect after a restart: its drills stay scheduled")
        with self._lock:
            self.observer.reconfigure(new)
            self.config = new
            self.audit.configure(*self._security(new))
            self._first_cycle_done &= {t.interval for t in new.targets}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(jobs.CYCLE_PREFIX):
                job.remove()
        self._schedule()
        if new_plan is not None and self.drills is not None:
            self.drills.replan(self.scheduler, new_plan, new.drills_paused)
        elif new_plan is not None:
            # A plan added by the reload: its drills start as they would at a start (reconciled with
            # the stored schedules while nothing fires).
            self.drills = self._drill_watch(new_plan, new)
            self.drills.runner.gate = self.leadership
            self.scheduler.pause()
            try:
                self.drills.start(self.scheduler)
            finally:
                self.scheduler.resume()
        self.stats.reload_ok = True
        self.stats.reload_ok_at = time.time()
        log.info("configuration reloaded: %d targets", len(new.targets))
        self.exposition.refresh()
        return True

    def _reload_failed(self, why: str | None) -> bool:
        self.stats.reload_ok = False
        if why is not None:
            log.error("reload failed, still running the previous configuration:\n%s", why)
        self.exposition.refresh()
        return False

    def stop(self) -> None:
        """Finish the running cycle and its writes, close the store."""
        log.info("stopping: waiting for the running cycle to finish")
        self.notifier.stopping()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.writer.stop()
        self.leadership.close()  # a clean stop hands the lease over at once
        try:
            self.store.stop_run(time.time())
        except Exception as exc:
            log.error("cannot record the end of this run: %s", exc)
        self.store.close()
        if self.server is not None:
            self.server.stop()
        self.publish.stop()
        self.runner.close()
        if self.radius is not None:
            self.radius.close()
        st = self.stats
        log.info("stopped: %d results measured in this run, %d stored, %d spilled for the next start, %d lost",
                 st.store_results_measured, st.store_results_written, st.store_results_spilled,
                 self.writer.lost)  # fmt: skip

    # -- signals -------------------------------------------------------

    def serve_forever(self) -> int:
        """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the process exit code."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        self.start()
        while not self._stop.is_set():
            self._stop.wait(0.2)
            if self._reload.is_set():
                self._reload.clear()
                self.notifier.reloading()
                self._reload_unless_stopped()
                self.notifier.ready(self._status_line())
        self.stop()
        # Results lost at the stop (neither stored nor spilled) are a failed stop, never a quiet one.
        return 1 if self.writer.lost else 0

    def _reload_unless_stopped(self) -> None:
        """A SIGHUP's reload, with the file read in a thread of its own: SIGTERM during a slow read
        (a file of megabytes takes seconds) stops the daemon at once, the reload abandoned."""
        got: list[tuple[cfg.Config, Plan | None] | None] = []
        reader = threading.Thread(target=lambda: got.append(self._load_new()), name="reload", daemon=True)
        reader.start()
        while reader.is_alive() and not self._stop.is_set():
            reader.join(0.2)
        if got and got[0] is not None and not self._stop.is_set():
            self._apply(*got[0])
        got.clear()
        give_back_memory()
