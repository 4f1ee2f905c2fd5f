"""Security findings: open counts by severity, one info series per open finding."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from domain.findings import OPEN, Finding, open_by_severity
from monitor.web.collectors.base import PREFIX, Concern


class FindingCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._findings(self.view.current_findings())

    def describe(self) -> Iterator[Metric]:
        yield from self._findings([])

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
