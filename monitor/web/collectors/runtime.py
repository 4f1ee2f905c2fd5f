"""vigia itself: build, reloads, store, probe engine, listener, cycles."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from monitor.runtime.stats import DaemonStats
from monitor.web.collectors.base import PREFIX, Concern


class RuntimeCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._self_metrics(self.view.stats)

    def describe(self) -> Iterator[Metric]:
        yield from self._self_metrics(DaemonStats(version=""))

    def _self_metrics(self, stats: DaemonStats) -> Iterator[Metric]:
        info = InfoMetricFamily(PREFIX + "build", "vigia version and runtime.")
        info.add_metric([], {"version": stats.version, "python": platform.python_version()})
        yield info
        for name, kind, doc, value in SCALARS:
            cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield cls(PREFIX + name, doc, value=value(stats))
        changes = CounterMetricFamily(
            PREFIX + "store_file_changes",
            "Times the SQLite store file vanished (history copied back from the open file) or was replaced.",
            labels=["change"],
        )
        for change in ("vanished", "replaced"):
            changes.add_metric([change], stats.store_file_changes.get(change, 0))
        yield changes
        skipped = CounterMetricFamily(
            PREFIX + "operator_input_skipped",
            "Stored rows operators entered (vigia maintenance) that the daemon cannot use and leaves out.",
            labels=["kind"],
        )
        for kind in INPUT_KINDS:
            skipped.add_metric([kind], stats.input_skipped.get(kind, 0))
        yield skipped
        yield from self._listeners(stats)
        yield from self._cycles(stats)

    @staticmethod
    def _listeners(stats: DaemonStats) -> Iterator[Metric]:
        rejected = CounterMetricFamily(
            PREFIX + "http_connections_rejected",
            "Connections a listener refused or dropped before answering: at a cap (full, per_client), a request "
            "head not in time or too large, a bad request, a failed TLS handshake, a client not reading.",
            labels=["listener", "reason"],
        )
        open_now = GaugeMetricFamily(PREFIX + "http_connections_open", "Connections open on a listener.",
                                     labels=["listener"])  # fmt: skip
        for name, counts in sorted(stats.listeners.items()):
            open_now.add_metric([name], counts.open)
            for reason, n in counts.rejected.items():
                rejected.add_metric([name, reason], n)
        yield rejected
        yield open_now

    @staticmethod
    def _cycles(stats: DaemonStats) -> Iterator[Metric]:
        labels = ["interval"]
        dur = GaugeMetricFamily(PREFIX + "cycle_duration_seconds", "Duration of the last probe cycle.", labels=labels)
        last = GaugeMetricFamily(
            PREFIX + "cycle_last_timestamp_seconds", "Unix time the last probe cycle ended.", labels=labels
        )
        runs = CounterMetricFamily(PREFIX + "cycles", "Probe cycles run.", labels=labels)
        over = CounterMetricFamily(
            PREFIX + "cycle_overruns", "Probe cycles that took longer than their interval.", labels=labels
        )
        skipped = CounterMetricFamily(
            PREFIX + "cycles_skipped", "Probe cycles skipped because the previous one was still running.", labels=labels
        )
        for c in stats.cycle_view():
            key = [f"{c.interval:g}s"]
            dur.add_metric(key, c.last_duration)
            last.add_metric(key, c.last_end)
            runs.add_metric(key, c.runs)
            over.add_metric(key, c.overruns)
            skipped.add_metric(key, c.skipped)
        yield from (dur, last, runs, over, skipped)


INPUT_KINDS = ("maintenance",)

# vigia's own single-value metrics: (name without prefix, type, help, how to read it from the stats).
SCALARS: tuple[tuple[str, str, str, Callable[[DaemonStats], float]], ...] = (
    ("start_time_seconds", "gauge", "Unix time the daemon started.", lambda s: s.started_at),
    ("config_last_reload_successful", "gauge", "1 if the last configuration (re)load succeeded.",
     lambda s: 1.0 if s.reload_ok else 0.0),
    ("config_last_reload_success_timestamp_seconds", "gauge", "Unix time of the last successful configuration load.",
     lambda s: s.reload_ok_at),
    ("config_reloads", "counter", "Configuration reloads attempted.", lambda s: s.reloads),
    ("web_config_last_reload_successful", "gauge",
     "1 if the last change of the web config file was valid (an invalid one is not applied).",
     lambda s: 1.0 if s.web_config_ok else 0.0),
    ("web_config_reloads", "counter", "Changes of the web config file read.", lambda s: s.web_config_reloads),
    ("store_errors", "counter", "Failed writes to the history store.", lambda s: s.store_errors),
    ("store_writes", "counter", "Cycles written to the history store.", lambda s: s.store_writes),
    ("store_write_seconds", "counter", "Time spent writing to the store.", lambda s: s.store_write_seconds),
    ("store_pending_results", "gauge", "Probe results waiting to be written (grows while the store fails).",
     lambda s: s.store_pending),
    ("store_dropped_results", "counter",
     "Probe results lost: dropped beyond the memory bound while the store failed, or neither stored nor spilled "
     "at a stop.", lambda s: s.store_dropped),
    ("store_refused_items", "counter",
     "Results, state changes, samples or findings the store refused for what they held (a value or a constraint "
     "it would not take): set aside in refused-results.jsonl beside the store, the rest of their write stored.",
     lambda s: s.store_refused),
    ("store_results_measured", "counter", "Probe results handed to the store writer.",
     lambda s: s.store_results_measured),
    ("store_results_written", "counter", "Probe results the store took.", lambda s: s.store_results_written),
    ("month_close_last_success_timestamp_seconds", "gauge",
     "Unix time the last month close (reports, open data, manifest) succeeded.", lambda s: s.month_close_ok_at),
    ("month_close_errors", "counter", "Month closes that failed.", lambda s: s.month_close_errors),
    ("report_deliveries_sent", "counter", "Closed months' reports handed to the SMTP server, per recipient.",
     lambda s: s.report_deliveries_sent),
    ("report_delivery_failures", "counter",
     "Tries to e-mail a closed month's reports that did not hand them over (refused, stalled, unreachable).",
     lambda s: s.report_delivery_failures),
    ("report_deliveries_undelivered", "gauge",
     "Recipients whose month failed for good (5xx, out of attempts) or is uncertain (its sender stopped mid-send).",
     lambda s: s.report_deliveries_undelivered),
    ("probe_exceptions", "counter", "Probes that raised instead of returning a result (bugs).",
     lambda s: s.probe_exceptions),
    ("drill_status_errors", "counter",
     "Reads of the drill journal that failed; drill metrics keep their last values meanwhile.",
     lambda s: s.drill_status_errors),
    ("probe_cancelled", "counter",
     "Probes still running past their deadline plus grace, cancelled and reported as timeouts (bugs).",
     lambda s: s.probe_cancelled),
    ("probe_late", "counter",
     "Timeouts the probe loop noticed over 0.25 s past their deadline: reported `late`, no data about the target.",
     lambda s: s.probe_late),
    ("probe_starts_held", "counter",
     "Checks whose start waited while the probe loop ran 100 ms late or more (more checks than it can serve).",
     lambda s: s.probe_held),
    ("probe_loop_lag_seconds", "gauge", "The probe loop's worst lateness during the last cycle.",
     lambda s: s.probe_loop_lag),
    ("probe_max_in_flight", "gauge", "Sockets the probe engine lets checks hold at once (probing.max_in_flight).",
     lambda s: s.probe_max_in_flight),
    ("probe_in_flight_peak", "gauge", "Most sockets held by checks at once since the daemon started.",
     lambda s: s.probe_in_flight_peak),
)  # fmt: skip
