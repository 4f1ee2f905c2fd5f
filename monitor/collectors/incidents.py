"""Incidents an operator opened on zones (`vigia incident`): how many are open, by cause."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from domain.incidents import CAUSES, Incident
from monitor.collectors.base import PREFIX, Concern


class IncidentCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._incidents(self.view.current_incidents())

    def describe(self) -> Iterator[Metric]:
        yield from self._incidents([])

    def _incidents(self, told: list[Incident]) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            PREFIX + "incidents_open", "Incidents open on zones, by the operator's cause.", labels=["cause"]
        )
        for cause in CAUSES:
            count.add_metric([cause], sum(1 for i in told if i.open and i.cause == cause))
        yield count
