"""Zone usage from RADIUS accounting: users, sessions, time, traffic, and the reader's health."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.runtime.usage import RadiusSnapshot
from monitor.web.collectors.base import PREFIX, Concern


class UsageCollector(Concern):
    def families(self) -> Iterator[Metric]:
        radius = self.view.current_radius()
        if radius is not None:  # no RADIUS source, no usage metrics
            yield from self._radius(radius)

    def describe(self) -> Iterator[Metric]:
        yield from self._radius(RadiusSnapshot())

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
