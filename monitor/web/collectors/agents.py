"""Zone agents: each one's last push, backlog, drops, clock, version; and the batches this
instance took and refused (by reason)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from monitor.runtime.stats import INGEST_REFUSALS, IngestCounts
from monitor.web.collectors.base import PREFIX, Concern
from store.agents import AgentRow


class AgentCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._agents(self.view.current_agents(), self.view.stats.agents)

    def describe(self) -> Iterator[Metric]:
        yield from self._agents([], IngestCounts())

    def _agents(self, agents: list[AgentRow], counts: IngestCounts) -> Iterator[Metric]:
        z = ["zone"]
        info = InfoMetricFamily(PREFIX + "agent", "Each zone agent: its version and whether its token is live.")
        pushed = GaugeMetricFamily(PREFIX + "agent_last_push_timestamp_seconds",
                                   "Unix time of the agent's last batch stored by any instance.", labels=z)  # fmt: skip
        backlog = GaugeMetricFamily(PREFIX + "agent_backlog_results",
                                    "Results in the agent's outbox when it last sent (its last batch's too).",
                                    labels=z)  # fmt: skip
        dropped = CounterMetricFamily(
            PREFIX + "agent_dropped_results",
            "Results the agent's full outbox dropped (reported, never silent).",
            labels=z,
        )
        skew = GaugeMetricFamily(PREFIX + "agent_clock_skew_seconds",
                                 "The centre's clock minus the agent's at its last batch.", labels=z)  # fmt: skip
        synced = GaugeMetricFamily(PREFIX + "agent_clock_synced",
                                   "1 if the agent's kernel says its clock is synchronised.", labels=z)  # fmt: skip
        for a in agents:
            info.add_metric([], {"zone": a.zone, "version": a.version, "state": "revoked" if a.revoked_at else "live"})
            if a.revoked_at is not None:
                continue
            if a.last_push_at is not None:
                pushed.add_metric([a.zone], a.last_push_at)
                skew.add_metric([a.zone], a.skew_seconds)
                backlog.add_metric([a.zone], a.backlog)
            if a.clock_synced is not None:
                synced.add_metric([a.zone], 1.0 if a.clock_synced else 0.0)
            dropped.add_metric([a.zone], a.dropped_total)
        taken = CounterMetricFamily(PREFIX + "agent_results_ingested",
                                    "Agents' results this instance stored (new to the store).")  # fmt: skip
        taken.add_metric([], counts.results)
        again = CounterMetricFamily(
            PREFIX + "agent_results_duplicate", "Agents' results this instance received that the store held already."
        )
        again.add_metric([], counts.duplicates)
        refused = CounterMetricFamily(PREFIX + "agent_batches_refused",
                                      "Agents' batches this instance refused, nothing of them stored, by reason.",
                                      labels=["reason"])  # fmt: skip
        for reason in INGEST_REFUSALS:
            refused.add_metric([reason], counts.refused[reason])
        yield from (info, pushed, backlog, dropped, skew, synced, taken, again, refused)
