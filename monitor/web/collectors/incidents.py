"""Incidents an operator opened on zones (`vigia incident`): how many are open, by cause, and each
open one on each of its zones."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from domain.incidents import CAUSES, Incident
from monitor.web.collectors.base import PREFIX, Concern


class IncidentCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._incidents(self.view.current_incidents())

    def describe(self) -> Iterator[Metric]:
        yield from self._incidents([])

    def _incidents(self, told: list[Incident]) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            PREFIX + "incidents_open", "Incidents open on zones, by the operator's cause.", labels=["cause"]
        )
        # One series per open incident and zone: Grafana draws them as annotations on the zones'
        # timelines. Bounded by what is open; the title is the operator's public text (200 at most).
        each = GaugeMetricFamily(
            PREFIX + "incident_open",
            "1 for each zone of each open incident (the operator's title and cause as labels).",
            labels=["incident", "zone", "cause", "title"],
        )
        for cause in CAUSES:
            count.add_metric([cause], sum(1 for i in told if i.open and i.cause == cause))
        for i in told:
            for zone in i.zones if i.open else ():
                each.add_metric([str(i.id), zone, i.cause, i.title], 1.0)
        yield count
        yield each
