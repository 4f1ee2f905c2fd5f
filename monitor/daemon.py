"""The vigia daemon: its lifecycle, reload and signals, and the wiring of its rooms.

The runtime (monitor.runtime) holds the running state and does each job's work; the web room
(monitor.web) serves what it sees through the LiveView; the jobs room (monitor.jobs) schedules it
and keeps the lease, the drills and the month jobs. This module creates them, connects them with
callables, starts and stops them, and swaps the configuration on SIGHUP.

Threads: APScheduler's workers run the jobs (cycles among them; the drills on a scheduler of their
own, whose job store is the database); one writer thread owns every store write (SQLite wants one
writer); each listener has its own asyncio loop; the main thread waits for signals.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent

import config as cfg
from continuity import schedule as drill_schedule
from continuity.plan import Plan
from continuity.status import DrillStatus
from domain.zones import Zone
from kernel.errors import ConfigError, ProbeSetupError, VigiaError
from kernel.signals import SignalInbox
from monitor.jobs import table as jobs
from monitor.jobs.delivery import ReportDelivery
from monitor.jobs.drillwatch import DrillWatch
from monitor.jobs.leadership import Leadership
from monitor.jobs.month import MonthJobs
from monitor.loading import give_back_memory, load
from monitor.runtime.core import Runtime
from monitor.runtime.live import LiveView
from monitor.runtime.stats import DaemonStats
from monitor.runtime.writer import StoreWriter
from monitor.sdnotify import Notifier
from monitor.version import vigia_version
from monitor.web.endpoints import MetricsServer
from monitor.web.exposition import Exposition
from monitor.web.ingest import Ingest
from monitor.web.publisher import Publisher
from monitor.web.webconfig import WebGuard
from store.db import Store, safe_url
from store.lease import Identity, Lease

log = logging.getLogger("vigia")


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
        config, plan = load(config_path, state_dir)
        self.listen = listen or config.web.listen
        if listen is not None:
            try:
                cfg.WebSettings(listen=listen)
            except ValueError as exc:
                raise VigiaError(f"--listen {listen!r}: {_first_error(exc)}") from None
        self.stats = DaemonStats(version=vigia_version())
        self.store = Store(config.store_url(), config.instance)
        self.runtime = Runtime(config, self.stats, self.store)
        self.live = LiveView(self.runtime)
        self.web = WebGuard(web_config or config.web.config_file, self._on_web_reload)
        self.notifier = Notifier()
        self._watchdog_quiet = False
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.exposition = Exposition(self.live)
        self.publish = Publisher(self.live, self.stats.version)
        self.live.incidents = lambda: self.publish.incidents
        self.live.agents = lambda: self.publish.agents
        self.live.drills = self.current_drills
        self.runtime.after_cycle += [self.exposition.refresh, self.publish.after_cycle]
        self.scheduler = jobs.scheduler(config.timezone)
        self.drill_scheduler = jobs.drill_scheduler(config.timezone, self.store.engine, config.instance)
        lease = Lease(
            self.store.engine,
            Identity.mine(config.instance, config.ha_group, self.stats.version),
            ttl=config.cluster.lease_ttl,
            advisory=config.cluster.advisory_locks,
        )
        self.leadership = Leadership(lease, self.stats)
        self.month_jobs = MonthJobs(
            config_path, lambda: self.config, self.leadership, self.stats, self.exposition.refresh
        )
        self.delivery = ReportDelivery(lambda: self.config, self.store, self.stats)
        self.drills: DrillWatch | None = None
        if plan is not None:
            self._watch_drills(plan, config)
        for scheduler in (self.scheduler, self.drill_scheduler):
            scheduler.add_listener(self._on_job_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self.server: MetricsServer | None = None

    # What the rest of the process (and the tests) reach through the daemon.
    @property
    def config(self) -> cfg.Config:
        return self.runtime.config

    @property
    def writer(self) -> StoreWriter:
        return self.runtime.writer

    def run_cycle(self, interval: float) -> None:
        self.runtime.run_cycle(interval)

    def current_drills(self) -> tuple[Plan | None, dict[str, DrillStatus]]:
        if self.drills is None:
            return None, {}
        return self.drills.runner.plan, self.drills.status

    def _watch_drills(self, plan: Plan, conf: cfg.Config) -> DrillWatch:
        self.drills = DrillWatch(
            plan,
            conf.state_dir,
            paused=conf.drills_paused,
            engine=self.runtime.runner.engine,
            stats=self.stats,
            on_change=self.exposition.refresh,
            sweep_every=self.leadership.interval,
        )
        self.drills.runner.gate = self.leadership
        self.runtime.drill_audit = self.drills.audit_view
        self.runtime.drills_changed = self.drills.refresh_if_changed
        return self.drills

    def _on_web_reload(self, ok: bool) -> None:
        self.stats.web_config_ok = ok
        self.stats.web_config_reloads += 1
        self.exposition.refresh()

    # -- lifecycle -----------------------------------------------------

    def start(self) -> None:
        """Open the store, restore state, start the writer, the listeners and the scheduler."""
        config = self.config
        try:
            os.makedirs(config.state_dir, exist_ok=True)
        except OSError as exc:
            raise VigiaError(f"cannot create the state directory {config.state_dir}: {exc.strerror}") from None
        log.info("vigia %s starting: %d targets, store %s", self.stats.version, len(config.targets),
                 safe_url(self.store.url))  # fmt: skip
        self.store.migrate()
        self.store.start_run(socket.gethostname(), self.stats.version, time.time())
        self.runtime.restore()
        self.writer.start()
        self.exposition.refresh()
        self._listen()
        self.publish.start()
        public = self.publish.public.server if self.publish.public is not None else None
        if public is not None:
            self.stats.listeners[public.name] = public.counts
        self.leadership.tick()  # before the drills' reconciliation, which journals misses through the gate
        self._schedule()
        self.scheduler.start(paused=True)
        self.drill_scheduler.start(paused=True)
        if self.drills is not None:
            self.drills.start(self.drill_scheduler)
        self.drill_scheduler.resume()
        self.scheduler.resume()
        self.notifier.ready(self._status_line())

    def _listen(self) -> None:
        web = self.config.web
        try:
            self.server = MetricsServer(
                self.listen,
                self.exposition,
                self.runtime.ready,
                self.web,
                max_connections=web.max_connections,
                max_per_client=web.max_connections_per_client,
                api=self.publish.api,
                ingest=Ingest(
                    self.store.agents(self.config.ha_group),
                    self.stats.agents,
                    self._zones,
                    stored=self.runtime.agent_results,
                ),
            )
            self.server.start()
        except OSError as exc:
            raise VigiaError(f"cannot listen on {self.listen}: {exc.strerror or exc}") from None
        self.stats.listeners[self.server.name] = self.server.counts
        auth = " (basic auth)" if self.web.settings is not None and self.web.settings.users else ""
        log.info("serving /metrics on %s%s", self._metrics_url(), auth)

    def _zones(self) -> dict[str, Zone]:
        return {z.id: z for z in self.live.current_zones()}

    def _metrics_url(self) -> str:
        host, port = (str(self.server.address[0]), self.server.port) if self.server is not None else ("", 0)
        return f"{'https' if self.web.tls else 'http'}://{host}:{port}/metrics"

    def _status_line(self) -> str:
        reload = "" if self.stats.reload_ok else "; last reload FAILED, running the previous configuration"
        return (
            f"{len(self.config.targets)} targets, {len(self.config.zones)} zones; serving {self._metrics_url()}{reload}"
        )

    def stop(self) -> None:
        """Finish the running cycle and its writes, close the store."""
        log.info("stopping: waiting for the running cycle to finish")
        self.notifier.stopping()
        for scheduler in (self.scheduler, self.drill_scheduler):
            if scheduler.running:
                scheduler.shutdown(wait=True)
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
        self.runtime.close()
        st = self.stats
        log.info("stopped: %d results measured in this run, %d stored, %d spilled for the next start, %d lost",
                 st.store_results_measured, st.store_results_written, st.store_results_spilled,
                 self.writer.lost)  # fmt: skip

    # -- the jobs ------------------------------------------------------

    def _schedule(self) -> None:
        self.runtime.cycles_since = time.time()
        runtime, month = self.runtime, self.month_jobs
        hooks = jobs.Hooks(
            cycle=runtime.run_cycle,
            month_close=month.close_previous,
            month_rollup=month.roll_up_previous if self.store.dialect == "postgresql" else None,
            audit=self._refreshing(runtime.audit_job),
            rollup=runtime.rollup_job,
            radius=self._refreshing(runtime.radius_job) if runtime.radius is not None else None,
            watchdog=self._watchdog_job if self.notifier.watchdog_interval is not None else None,
            lease=self._refreshing(self.leadership.tick),  # vigia_leader must not wait for the next cycle
            operator_input=self.publish.read,
            singletons=month.recover,
            delivery=self.delivery.run,
        )
        radius_interval = runtime.radius.settings.interval if runtime.radius is not None else None
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

    def _refreshing(self, work: Callable[[], bool]) -> Callable[[], None]:
        """``work`` as a job that refreshes /metrics when it says something changed."""

        def job() -> None:
            if work():
                self.exposition.refresh()

        return job

    def _watchdog_job(self) -> None:
        # Never takes the runtime's lock: a cycle wedged on it must silence the watchdog, not this job.
        # Cycles that finish while /metrics stands still are no service either.
        now = time.time()
        if self.runtime.cycles_running(now) and self.metrics_moving(now):
            self.notifier.watchdog()
            self._watchdog_quiet = False
        elif not self._watchdog_quiet:
            self._watchdog_quiet = True
            log.error("probe cycles have stopped finishing; withholding the systemd watchdog ping")

    def metrics_moving(self, now: float) -> bool:
        """Whether the exposition was rendered within three of the shortest interval (or 15 s)."""
        shortest = min((t.interval for t in self.config.targets), default=60.0)
        last = max(self.exposition.rendered_at, self.runtime.cycles_since)
        return now - last <= max(3 * shortest, shortest + 15.0)

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

    # -- reload --------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config; on any error keep running the old one and say why. What is
        checked is exactly what a start checks (``load``): a file that reloads also starts."""
        loaded = self._load_new()
        return loaded is not None and self._apply(*loaded)

    def _load_new(self) -> tuple[cfg.Config, Plan | None] | None:
        """The reload's reading and validation (seconds for a large file: no lock held); None,
        said and counted, when the new files cannot run."""
        self.stats.reloads += 1
        why: str | None = None
        try:
            return load(self.config_path, self._state_dir_override)
        except (ConfigError, ProbeSetupError) as exc:
            why = str(exc)
        except Exception as exc:  # a bug in validation must not take the running daemon down
            log.exception("reload failed, still running the previous configuration: %s", exc)
        self.stats.reload_ok = False
        if why is not None:
            log.error("reload failed, still running the previous configuration:\n%s", why)
        self.exposition.refresh()
        return None

    def _apply(self, new: cfg.Config, new_plan: Plan | None) -> bool:
        """A validated configuration put in place of the running one."""
        old = self.config
        if new.probing.max_in_flight != old.probing.max_in_flight:
            log.warning("probing.max_in_flight changes take effect after a restart")
        restart_only = ("store", "web", "state_dir", "ha_group", "cluster")
        if any(getattr(new, k) != getattr(old, k) for k in restart_only):
            log.warning("store, web, state_dir, ha_group and cluster changes take effect after a restart")
        if new_plan is None and self.drills is not None:
            log.warning("removing the continuity plan takes effect after a restart: its drills stay scheduled")
        self.runtime.reconfigure(new)
        for job in self.scheduler.get_jobs():
            if job.id.startswith(jobs.CYCLE_PREFIX):
                job.remove()
        self._schedule()
        if new_plan is not None and self.drills is not None:
            self.drills.replan(self.drill_scheduler, new_plan, new.drills_paused)
        elif new_plan is not None:  # a plan added by the reload: its drills start as at a start
            self._watch_drills(new_plan, new).start_running(self.drill_scheduler)
        self.stats.reload_ok = True
        self.stats.reload_ok_at = time.time()
        log.info("configuration reloaded: %d targets", len(new.targets))
        self.exposition.refresh()
        return True

    # -- signals -------------------------------------------------------

    def serve_forever(self) -> int:
        """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the process exit code."""
        with SignalInbox(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as self._signals:
            self.start()
            while not self._stop.is_set():
                self._heed(0.2)
                if self._reload.is_set():
                    self._reload.clear()
                    self.notifier.reloading()
                    self._reload_unless_stopped()
                    self.notifier.ready(self._status_line())
            self.stop()
        # Results lost at the stop (neither stored nor spilled) are a failed stop, never a quiet one.
        return 1 if self.writer.lost else 0

    def _heed(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a signal and note it (in the main thread, never in a handler)."""
        for got in self._signals.wait(timeout):
            (self._reload if got == signal.SIGHUP else self._stop).set()

    def _reload_unless_stopped(self) -> None:
        """A SIGHUP's reload, with the file read in a thread of its own: SIGTERM during a slow read
        (a file of megabytes takes seconds) stops the daemon at once, the reload abandoned."""
        got: list[tuple[cfg.Config, Plan | None] | None] = []
        reader = threading.Thread(target=lambda: got.append(self._load_new()), name="reload", daemon=True)
        reader.start()
        while reader.is_alive() and not self._stop.is_set():
            reader.join(0.05)
            self._heed(0)
        if got and got[0] is not None and not self._stop.is_set():
            self._apply(*got[0])
        got.clear()
        give_back_memory()
