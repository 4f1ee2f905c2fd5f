"""Prometheus exposition: a custom Collector over the daemon's view, rendered once per cycle.

Scrapes never compute anything: ``Exposition.refresh()`` renders the text (and
its gzip form) after each probe cycle and every scrape is served from that
cache, so a busy Prometheus (or several) costs the daemon almost nothing.
"""

from __future__ import annotations

import gzip
import logging
import platform
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from continuity.plan import Plan
from continuity.status import DrillStatus, service_status
from domain.drills import Verdict
from domain.findings import OPEN, Finding, open_by_severity
from domain.state import State, TargetState
from monitor.config import Target
from monitor.traffic import ZoneTraffic
from monitor.usage import RadiusSnapshot
from monitor.zones import Zone, ZoneState, ZoneStatus
from probes import REGISTRY
from probes.result import MetricSpec

log = logging.getLogger(__name__)

PREFIX = "vigia_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class CycleStats:
    interval: float
    runs: int = 0
    overruns: int = 0
    skipped: int = 0
    last_duration: float = 0.0
    last_end: float = 0.0


@dataclass
class DaemonStats:
    """Counters about vigia itself, updated by the daemon, read at render time."""

    version: str
    started_at: float = field(default_factory=time.time)
    reload_ok: bool = True
    reload_ok_at: float = field(default_factory=time.time)
    reloads: int = 0
    web_config_ok: bool = True
    web_config_reloads: int = 0
    store_errors: int = 0
    store_writes: int = 0
    store_write_seconds: float = 0.0
    store_pending: int = 0
    store_dropped: int = 0
    probe_exceptions: int = 0
    drill_status_errors: int = 0
    store_file_changes: dict[str, int] = field(default_factory=dict)  # vanished / replaced -> times
    http_rejected: int = 0  # connections closed at once: web.max_connections were open
    probe_cancelled: int = 0  # probes cancelled past their deadline + grace (probes.engine)
    probe_max_in_flight: int = 0
    probe_in_flight_peak: int = 0
    month_close_ok_at: float = 0.0
    month_close_errors: int = 0
    cycles: dict[float, CycleStats] = field(default_factory=dict)


class DaemonView(Protocol):
    """What the collector needs from the daemon (kept small so tests can provide it)."""

    stats: DaemonStats

    def current_targets(self) -> tuple[Target, ...]: ...

    def current_states(self) -> dict[str, TargetState]: ...

    def current_zones(self) -> tuple[Zone, ...]: ...

    def current_zone_states(self) -> dict[str, ZoneState]: ...

    def current_radius(self) -> RadiusSnapshot | None: ...

    def current_traffic(self) -> dict[str, ZoneTraffic]: ...

    def current_drills(self) -> tuple[Plan | None, dict[str, DrillStatus]]: ...

    def current_findings(self) -> list[Finding]: ...


def _specs() -> dict[str, dict[str, list[MetricSpec]]]:
    """probe kind -> value key -> specs (a key may feed several metrics)."""
    out: dict[str, dict[str, list[MetricSpec]]] = {}
    for kind in REGISTRY.values():
        table: dict[str, list[MetricSpec]] = {}
        for spec in kind.metrics:
            table.setdefault(spec.key, []).append(spec)
        out[kind.name] = table
    return out


class VigiaCollector(Collector):
    """Builds fresh metric families from the daemon's current view on every collect()."""

    def __init__(self, view: DaemonView) -> None:
        self.view = view
        self.specs = _specs()
        self.helps: dict[str, str] = {}
        for kind in REGISTRY.values():
            for spec in kind.metrics:
                if spec.help and spec.metric not in self.helps:
                    self.helps[spec.metric] = spec.help

    def collect(self) -> Iterator[Metric]:
        stats = self.view.stats
        targets = self.view.current_targets()
        states = self.view.current_states()
        yield from self._self_metrics(stats)
        yield from self._inventory(targets)
        yield from self._states(targets, states)
        yield from self._values(targets, states)
        yield from self._zones(self.view.current_zones(), self.view.current_zone_states())
        yield from self._traffic(self.view.current_traffic())
        plan, drills = self.view.current_drills()
        if plan is not None:
            yield from self._drills(plan, drills)
        radius = self.view.current_radius()
        if radius is not None:
            yield from self._radius(radius)
        yield from self._findings(self.view.current_findings())

    def _findings(self, found: list[Finding]) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            PREFIX + "security_findings_open", "Open security findings by severity.", labels=["severity"]
        )
        for severity, n in open_by_severity(found).items():
            count.add_metric([severity], n)
        yield count
        info = InfoMetricFamily(PREFIX + "security_finding", "One open security finding (ISO/IEC 27001:2022 control).")
        since = GaugeMetricFamily(
            PREFIX + "security_finding_first_seen_timestamp_seconds",
            "Unix time an open finding was first seen.",
            labels=["id"],
        )
        for f in sorted(found, key=lambda f: f.id):
            if f.status != OPEN:
                continue
            info.add_metric(
                [],
                {"id": f.id, "kind": f.kind, "asset": f.asset, "detail": f.detail, "severity": f.severity,
                 "control": f.control},
            )  # fmt: skip
            since.add_metric([f.id], f.first_seen)
        yield info
        yield since

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

    def _inventory(self, targets: Iterable[Target]) -> Iterator[Metric]:
        targets = list(targets)
        names = sorted({k for t in targets for k in t.labels})
        info = InfoMetricFamily(PREFIX + "target", "Inventory of each target; join on target in PromQL.")
        for t in targets:
            labels = {"target": t.id, "group": t.group, "probe": t.probe, "description": t.description}
            labels.update({n: t.labels.get(n, "") for n in names})
            info.add_metric([], labels)
        yield info
        interval = GaugeMetricFamily(
            PREFIX + "target_interval_seconds", "Configured probe interval.", labels=["target"]
        )
        for t in targets:
            interval.add_metric([t.id], t.interval)
        yield interval

    def _states(self, targets: Iterable[Target], states: dict[str, TargetState]) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            PREFIX + "target_up",
            "1 if the target is up, 0 if down; absent while unknown or in maintenance.",
            labels=["target"],
        )
        state = GaugeMetricFamily(
            PREFIX + "target_state",
            "Current state of the target (one series per state, 1 for the current one).",
            labels=["target", "state"],
        )
        since = GaugeMetricFamily(
            PREFIX + "target_state_since_timestamp_seconds",
            "Unix time the target entered its current state.",
            labels=["target"],
        )
        trans = CounterMetricFamily(PREFIX + "target_transitions", "State changes of the target.", labels=["target"])
        success = GaugeMetricFamily(
            PREFIX + "probe_success", "1 if the last probe succeeded.", labels=["target", "probe"]
        )
        duration = GaugeMetricFamily(
            PREFIX + "probe_duration_seconds", "Duration of the last probe.", labels=["target", "probe"]
        )
        last_ts = GaugeMetricFamily(
            PREFIX + "probe_last_timestamp_seconds", "Unix time the last probe started.", labels=["target", "probe"]
        )
        failure = GaugeMetricFamily(
            PREFIX + "probe_failure",
            "1 for the reason of the last probe's failure.",
            labels=["target", "probe", "reason"],
        )
        counts = CounterMetricFamily(
            PREFIX + "probe_results", "Probe results by outcome.", labels=["target", "probe", "result"]
        )
        for t in targets:
            st = states.get(t.id)
            if st is None:
                continue
            if st.state in (State.UP, State.DOWN):
                up.add_metric([t.id], 1.0 if st.state == State.UP else 0.0)
            for s in State:
                state.add_metric([t.id, s.value], 1.0 if st.state == s else 0.0)
            if st.since is not None:
                since.add_metric([t.id], st.since.timestamp())
            trans.add_metric([t.id], st.transitions)
            counts.add_metric([t.id, t.probe, "success"], st.results[True])
            counts.add_metric([t.id, t.probe, "failure"], st.results[False])
            r = st.last
            if r is None:
                continue
            success.add_metric([t.id, t.probe], 1.0 if r.success else 0.0)
            duration.add_metric([t.id, t.probe], r.duration)
            last_ts.add_metric([t.id, t.probe], r.started_at.timestamp())
            if not r.success:
                failure.add_metric([t.id, t.probe, r.reason], 1.0)
        yield from (up, state, since, trans, success, duration, last_ts, failure, counts)

    def _values(self, targets: Iterable[Target], states: dict[str, TargetState]) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        infos: dict[str, InfoMetricFamily] = {}

        def family(spec: MetricSpec, extra: tuple[str, ...]) -> GaugeMetricFamily | CounterMetricFamily:
            fam = families.get(spec.metric)
            if fam is None:
                labels = ["target", *(k for k, _ in spec.const_labels), *extra]
                cls = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
                fam = cls(PREFIX + spec.metric, self.helps.get(spec.metric, spec.metric), labels=labels)
                families[spec.metric] = fam
            return fam

        for t in targets:
            st = states.get(t.id)
            if st is None or st.last is None:
                continue
            r = st.last
            table = self.specs.get(r.probe, {})
            for key, value in sorted(r.values.items()):
                for spec in table.get(key, ()):
                    family(spec, ()).add_metric([t.id, *(v for _, v in spec.const_labels)], value)
            for s in r.series:
                for spec in table.get(s.name, ()):
                    family(spec, tuple(k for k, _ in s.labels)).add_metric(
                        [t.id, *(v for _, v in spec.const_labels), *(v for _, v in s.labels)], s.value
                    )
            if r.labels:
                info = infos.get(r.probe)
                if info is None:
                    info = InfoMetricFamily(
                        PREFIX + r.probe + "_details", f"Descriptive facts from the last {r.probe} probe."
                    )
                    infos[r.probe] = info
                info.add_metric([], {"target": t.id, **r.labels})
        yield from families.values()
        yield from infos.values()

    def _zones(self, zones: tuple[Zone, ...], states: dict[str, ZoneState]) -> Iterator[Metric]:
        info = InfoMetricFamily(PREFIX + "zone", "Inventory of each Wi-Fi zone (for maps and joins on zone).")
        up = GaugeMetricFamily(
            PREFIX + "zone_up",
            "1 if citizens can get online in the zone (up or degraded), "
            "0 if down; absent while unknown, in maintenance or without data.",
            labels=["zone"],
        )
        state = GaugeMetricFamily(
            PREFIX + "zone_state", "Current state of the zone (1 for the current one).", labels=["zone", "state"]
        )
        since = GaugeMetricFamily(
            PREFIX + "zone_state_since_timestamp_seconds",
            "Unix time the zone entered its current state.",
            labels=["zone"],
        )
        check = GaugeMetricFamily(
            PREFIX + "zone_check_success", "1 if the zone's check passed in the last cycle.", labels=["zone", "check"]
        )
        hours = GaugeMetricFamily(
            PREFIX + "zone_in_operating_hours", "1 while the zone is in its operating hours.", labels=["zone"]
        )
        sla = GaugeMetricFamily(
            PREFIX + "zone_sla_target_ratio", "Availability target of the zone (0-1).", labels=["zone"]
        )
        bandwidth = GaugeMetricFamily(
            PREFIX + "zone_contracted_bandwidth_bytes_per_second",
            "Contracted bandwidth of the zone's uplink.",
            labels=["zone"],
        )
        trans = CounterMetricFamily(PREFIX + "zone_transitions", "State changes of the zone.", labels=["zone"])
        for z in zones:
            info.add_metric(
                [],
                {
                    "zone": z.id,
                    "name": z.name,
                    "barrio": z.barrio,
                    "ucg": "" if z.ucg is None else str(z.ucg),
                    "localidad": z.localidad,
                    "area": z.area,
                    "lat": f"{z.lat:.5f}",
                    "lon": f"{z.lon:.5f}",
                    "hours": z.hours_text,
                },
            )
            if z.sla_target is not None:
                sla.add_metric([z.id], z.sla_target)
            if z.bandwidth_bps is not None:
                bandwidth.add_metric([z.id], z.bandwidth_bps / 8)
            st = states.get(z.id)
            if st is None:
                continue
            if st.status in (ZoneStatus.UP, ZoneStatus.DEGRADED, ZoneStatus.DOWN):
                up.add_metric([z.id], 0.0 if st.status == ZoneStatus.DOWN else 1.0)
            for s in ZoneStatus:
                state.add_metric([z.id, s.value], 1.0 if st.status == s else 0.0)
            if st.since is not None:
                since.add_metric([z.id], st.since.timestamp())
            trans.add_metric([z.id], st.transitions)
            if st.last is not None:
                hours.add_metric([z.id], 1.0 if st.in_hours else 0.0)
                for name, ok in sorted(st.last.checks.items()):
                    check.add_metric([z.id, name], 1.0 if ok else 0.0)
        yield from (info, up, state, since, check, hours, sla, bandwidth, trans)

    def _drills(self, plan: Plan, drills: dict[str, DrillStatus]) -> Iterator[Metric]:
        d = ["drill"]
        info = InfoMetricFamily(PREFIX + "drill", "Continuity drills of the plan.")
        last = GaugeMetricFamily(PREFIX + "drill_last_run_timestamp_seconds", "Unix time the drill last ran.", labels=d)
        ok = GaugeMetricFamily(
            PREFIX + "drill_last_success_timestamp_seconds", "Unix time the drill last passed.", labels=d
        )
        rto = GaugeMetricFamily(
            PREFIX + "drill_rto_achieved_seconds", "RTO achieved by the drill's last run.", labels=d
        )
        rto_t = GaugeMetricFamily(PREFIX + "drill_rto_target_seconds", "RTO target of the drill's service.", labels=d)
        rpo = GaugeMetricFamily(
            PREFIX + "drill_rpo_achieved_seconds", "RPO achieved by the drill's last run.", labels=d
        )
        rpo_t = GaugeMetricFamily(PREFIX + "drill_rpo_target_seconds", "RPO target of the drill's service.", labels=d)
        runs = CounterMetricFamily(PREFIX + "drill_runs", "Journaled drill runs by result.", labels=["drill", "result"])
        for drill in plan.drills.values():
            service = plan.services[drill.service]
            info.add_metric(
                [],
                {
                    "drill": drill.id,
                    "service": drill.service,
                    "kind": drill.kind,
                    "exercise": drill.exercise,
                    "plan_version": plan.version,
                },
            )
            rto_t.add_metric([drill.id], service.rto)
            rpo_t.add_metric([drill.id], service.rpo)
            st = drills.get(drill.id)
            if st is None:
                continue
            if st.last_run is not None:
                last.add_metric([drill.id], st.last_run)
            if st.last_success is not None:
                ok.add_metric([drill.id], st.last_success)
            if st.rto_achieved is not None:
                rto.add_metric([drill.id], st.rto_achieved)
            if st.rpo_achieved is not None:
                rpo.add_metric([drill.id], st.rpo_achieved)
            for result in Verdict:
                runs.add_metric([drill.id, result], st.results.get(result, 0))
        yield from (info, last, ok, rto, rto_t, rpo, rpo_t, runs)
        overdue = GaugeMetricFamily(
            PREFIX + "continuity_service_overdue",
            "1 when no drill of the service passed within its test interval.",
            labels=["service"],
        )
        for svc in service_status(plan, drills, time.time()).values():
            overdue.add_metric([svc.service], 1.0 if svc.overdue else 0.0)
        yield overdue

    def _traffic(self, traffic: dict[str, ZoneTraffic]) -> Iterator[Metric]:
        rx = CounterMetricFamily(
            PREFIX + "zone_receive_bytes",
            "Bytes into the zone's device interface (SNMP ifHCInOctets), wraps and reboots accounted for.",
            labels=["zone"],
        )
        tx = CounterMetricFamily(
            PREFIX + "zone_transmit_bytes",
            "Bytes out of the zone's device interface (SNMP ifHCOutOctets), wraps and reboots accounted for.",
            labels=["zone"],
        )
        clients = GaugeMetricFamily(
            PREFIX + "zone_clients", "Clients associated now (SNMP, vendor OID).", labels=["zone"]
        )
        resets = CounterMetricFamily(
            PREFIX + "zone_counter_resets", "Device reboots or counter resets seen.", labels=["zone"]
        )
        wraps = CounterMetricFamily(PREFIX + "zone_counter_wraps", "32-bit counter wraps seen.", labels=["zone"])
        for zone, t in sorted(traffic.items()):
            if t.last is None:
                continue
            rx.add_metric([zone], t.rx_total)
            tx.add_metric([zone], t.tx_total)
            resets.add_metric([zone], t.resets)
            wraps.add_metric([zone], t.wraps)
            if t.clients is not None:
                clients.add_metric([zone], t.clients)
        yield from (rx, tx, clients, resets, wraps)

    def _radius(self, snap: RadiusSnapshot) -> Iterator[Metric]:
        labels = ["zone", "period"]
        users = GaugeMetricFamily(
            PREFIX + "zone_unique_users",
            "Distinct devices (Calling-Station-Id) with a "
            "session started in the period, counted by the accounting database.",
            labels=labels,
        )
        sessions = GaugeMetricFamily(PREFIX + "zone_sessions", "Sessions started in the period.", labels=labels)
        seconds = GaugeMetricFamily(
            PREFIX + "zone_session_seconds", "Session time of the sessions started in the period.", labels=labels
        )
        rx = GaugeMetricFamily(
            PREFIX + "zone_accounting_input_bytes",
            "Bytes sent by users (Acct-Input-Octets) in sessions started in the period.",
            labels=labels,
        )
        tx = GaugeMetricFamily(
            PREFIX + "zone_accounting_output_bytes",
            "Bytes received by users (Acct-Output-Octets) in sessions started in the period.",
            labels=labels,
        )
        for period, table in (("day", snap.day), ("month", snap.month)):
            for zone, u in sorted(table.items()):
                users.add_metric([zone, period], u.unique_users)
                sessions.add_metric([zone, period], u.sessions)
                seconds.add_metric([zone, period], u.session_seconds)
                rx.add_metric([zone, period], u.input_octets)
                tx.add_metric([zone, period], u.output_octets)
        active = GaugeMetricFamily(PREFIX + "zone_sessions_active", "Open RADIUS sessions now.", labels=["zone"])
        for zone, n in sorted(snap.active.items()):
            active.add_metric([zone], n)
        peak = GaugeMetricFamily(
            PREFIX + "zone_sessions_peak", "Most simultaneous sessions in the period so far.", labels=labels
        )
        for zone, n in sorted(snap.peak_today.items()):
            peak.add_metric([zone, "day"], n)
        yield from (users, sessions, seconds, rx, tx, active, peak)
        yield CounterMetricFamily(
            PREFIX + "radius_errors", "Failed reads of the accounting database.", value=snap.errors
        )
        yield GaugeMetricFamily(
            PREFIX + "radius_last_success_timestamp_seconds",
            "Unix time of the last successful accounting read.",
            value=snap.last_success,
        )
        yield GaugeMetricFamily(
            PREFIX + "radius_read_duration_seconds", "Duration of the last accounting read.", value=snap.last_seconds
        )
        yield GaugeMetricFamily(
            PREFIX + "radius_behind",
            "1 when more rows were past the watermark than one read takes (today's figures are catching up).",
            value=float(snap.behind),
        )


class Exposition:
    """The rendered /metrics body, refreshed once per cycle and shared by every scrape."""

    def __init__(self, view: DaemonView, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(VigiaCollector(view))
        if process_metrics:
            ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._body = b""
        self._gzip = b""
        self.rendered_at = 0.0
        self.render_seconds = 0.0
        self.errors = 0  # renders that failed (a collector bug); the watchdog notices a stale body

    def refresh(self) -> None:
        t0 = time.perf_counter()
        try:
            body = generate_latest(self.registry)
        except Exception:  # a bug in a collector: keep serving the last good body, say so, go on
            self.errors += 1
            log.exception("cannot render /metrics; serving the previous exposition")
            return
        packed = gzip.compress(body, compresslevel=5)
        with self._lock:
            self._body, self._gzip = body, packed
            self.rendered_at = time.time()
            self.render_seconds = time.perf_counter() - t0

    def body(self, *, gzipped: bool = False) -> bytes:
        with self._lock:
            return self._gzip if gzipped else self._body
