"""Several instances on one database: this process's standing under the leader lease."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.runtime.stats import DaemonStats
from monitor.web.collectors.base import PREFIX, Concern


class ClusterCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._standing(self.view.stats)

    def describe(self) -> Iterator[Metric]:
        yield from self._standing(DaemonStats(version=""))

    @staticmethod
    def _standing(s: DaemonStats) -> Iterator[Metric]:
        labels, key = ["vigia_instance", "ha_group"], [s.instance, s.ha_group]
        leader = GaugeMetricFamily(
            PREFIX + "leader", "1 while this process holds the leader lease (singleton jobs run here).", labels=labels
        )
        leader.add_metric(key, 1.0 if s.leader else 0.0)
        epoch = GaugeMetricFamily(
            PREFIX + "leader_epoch", "The lease's epoch as this process last saw it (grows at every failover).",
            labels=labels,
        )  # fmt: skip
        epoch.add_metric(key, s.leader_epoch)
        alive = GaugeMetricFamily(
            PREFIX + "instances_alive", "vigia processes on this database whose heartbeat is recent.", labels=labels
        )
        alive.add_metric(key, s.instances_alive)
        errors = CounterMetricFamily(
            PREFIX + "lease_errors", "Lease renewals that could not reach the database.", labels=labels
        )
        errors.add_metric(key, s.lease_errors)
        yield from (leader, epoch, alive, errors)
