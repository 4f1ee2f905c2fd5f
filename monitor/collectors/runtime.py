"""vigia itself: build, reloads, store, probe engine, listener, cycles."""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from monitor.collectors.base import PREFIX, Concern
from monitor.stats import DaemonStats


class RuntimeCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._self_metrics(self.view.stats)

    def describe(self) -> Iterator[Metric]:
        yield from self._self_metrics(DaemonStats(version=""))

    def _self_metrics(self, stats: DaemonStats) -> Iterator[Metric]:
        info = InfoMetricFamily(PREFIX + "build", "vigia version and runtime.")
        info.add_metric([], {"version": stats.version, "python": platform.python_version()})
        yield info
        yield GaugeMetricFamily(PREFIX + "start_time_seconds", "Unix time the daemon started.", value=stats.started_at)
        yield GaugeMetricFamily(
            PREFIX + "config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            value=1.0 if stats.reload_ok else 0.0,
        )
        yield GaugeMetricFamily(
            PREFIX + "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
            value=stats.reload_ok_at,
        )
        yield CounterMetricFamily(PREFIX + "config_reloads", "Configuration reloads attempted.", value=stats.reloads)
        yield GaugeMetricFamily(
            PREFIX + "web_config_last_reload_successful",
            "1 if the last change of the web config file was valid (an invalid one is not applied).",
            value=1.0 if stats.web_config_ok else 0.0,
        )
        yield CounterMetricFamily(
            PREFIX + "web_config_reloads", "Changes of the web config file read.", value=stats.web_config_reloads
        )
        yield CounterMetricFamily(
            PREFIX + "store_errors", "Failed writes to the history store.", value=stats.store_errors
        )
        yield CounterMetricFamily(
            PREFIX + "store_writes", "Cycles written to the history store.", value=stats.store_writes
        )
        yield CounterMetricFamily(
            PREFIX + "store_write_seconds", "Time spent writing to the store.", value=stats.store_write_seconds
        )
        yield GaugeMetricFamily(
            PREFIX + "store_pending_results",
            "Probe results waiting to be written (grows while the store fails).",
            value=stats.store_pending,
        )
        yield CounterMetricFamily(
            PREFIX + "store_dropped_results",
            "Probe results dropped because the store stayed unavailable too long.",
            value=stats.store_dropped,
        )
        yield GaugeMetricFamily(
            PREFIX + "month_close_last_success_timestamp_seconds",
            "Unix time the last month close (reports, open data, manifest) succeeded.",
            value=stats.month_close_ok_at,
        )
        yield CounterMetricFamily(
            PREFIX + "month_close_errors", "Month closes that failed.", value=stats.month_close_errors
        )
        yield CounterMetricFamily(
            PREFIX + "probe_exceptions",
            "Probes that raised instead of returning a result (bugs).",
            value=stats.probe_exceptions,
        )
        changes = CounterMetricFamily(
            PREFIX + "store_file_changes",
            "Times the SQLite store file vanished (history copied back from the open file) or was replaced.",
            labels=["change"],
        )
        for change in ("vanished", "replaced"):
            changes.add_metric([change], stats.store_file_changes.get(change, 0))
        yield changes
        yield CounterMetricFamily(
            PREFIX + "drill_status_errors",
            "Reads of the drill journal that failed; drill metrics keep their last values meanwhile.",
            value=stats.drill_status_errors,
        )
        yield CounterMetricFamily(
            PREFIX + "http_connections_rejected",
            "Connections to the metrics listener closed at once because web.max_connections were open.",
            value=stats.http_rejected,
        )
        yield CounterMetricFamily(
            PREFIX + "probe_cancelled",
            "Probes still running past their deadline plus grace, cancelled and reported as timeouts (bugs).",
            value=stats.probe_cancelled,
        )
        yield GaugeMetricFamily(
            PREFIX + "probe_max_in_flight",
            "Sockets the probe engine lets checks hold at once (probing.max_in_flight).",
            value=stats.probe_max_in_flight,
        )
        yield GaugeMetricFamily(
            PREFIX + "probe_in_flight_peak",
            "Most sockets held by checks at once since the daemon started.",
            value=stats.probe_in_flight_peak,
        )
        dur = GaugeMetricFamily(
            PREFIX + "cycle_duration_seconds", "Duration of the last probe cycle.", labels=["interval"]
        )
        last = GaugeMetricFamily(
            PREFIX + "cycle_last_timestamp_seconds", "Unix time the last probe cycle ended.", labels=["interval"]
        )
        runs = CounterMetricFamily(PREFIX + "cycles", "Probe cycles run.", labels=["interval"])
        over = CounterMetricFamily(
            PREFIX + "cycle_overruns", "Probe cycles that took longer than their interval.", labels=["interval"]
        )
        skipped = CounterMetricFamily(
            PREFIX + "cycles_skipped",
            "Probe cycles skipped because the previous one was still running.",
            labels=["interval"],
        )
        for c in stats.cycles.values():
            key = [f"{c.interval:g}s"]
            dur.add_metric(key, c.last_duration)
            last.add_metric(key, c.last_end)
            runs.add_metric(key, c.runs)
            over.add_metric(key, c.overruns)
            skipped.add_metric(key, c.skipped)
        yield from (dur, last, runs, over, skipped)
