"""Continuity drills: last run and success, RTO/RPO achieved vs target, runs by verdict, overdue services."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from continuity.plan import Plan
from continuity.status import DrillStatus, service_status
from domain.drills import Verdict
from monitor.web.collectors.base import PREFIX, Concern


class DrillCollector(Concern):
    def families(self) -> Iterator[Metric]:
        plan, drills = self.view.current_drills()
        if plan is not None:  # no plan, no drill metrics
            yield from self._drills(plan, drills)

    def describe(self) -> Iterator[Metric]:
        yield from self._drills(None, {})

    def _drills(self, plan: Plan | None, drills: dict[str, DrillStatus]) -> Iterator[Metric]:
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
        for drill in plan.drills.values() if plan is not None else ():
            assert plan is not None
            service = plan.services[drill.service]
            info.add_metric(
                [],
                {
                    "drill": drill.id,
                    "service": drill.service,
                    "service_name": service.name,
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
        services = InfoMetricFamily(PREFIX + "continuity_service", "Services of the continuity plan.")
        for svc in service_status(plan, drills, time.time()).values() if plan is not None else ():
            overdue.add_metric([svc.service], 1.0 if svc.overdue else 0.0)
        for s in plan.services.values() if plan is not None else ():
            services.add_metric([], {"service": s.id, "name": s.name, "owner": s.owner, "tier": str(s.tier)})
        yield overdue
        yield services
