"""One collector per metrics concern, in the order their families appear in /metrics."""

from __future__ import annotations

from monitor.web.collectors.agents import AgentCollector
from monitor.web.collectors.base import PREFIX, Concern, View
from monitor.web.collectors.cluster import ClusterCollector
from monitor.web.collectors.drills import DrillCollector
from monitor.web.collectors.findings import FindingCollector
from monitor.web.collectors.incidents import IncidentCollector
from monitor.web.collectors.runtime import RuntimeCollector
from monitor.web.collectors.targets import TargetCollector
from monitor.web.collectors.traffic import TrafficCollector
from monitor.web.collectors.usage import UsageCollector
from monitor.web.collectors.zones import ZoneCollector

COLLECTORS: tuple[type[Concern], ...] = (
    RuntimeCollector,
    TargetCollector,
    ZoneCollector,
    TrafficCollector,
    DrillCollector,
    UsageCollector,
    FindingCollector,
    IncidentCollector,
    ClusterCollector,
    AgentCollector,
)

__all__ = ["COLLECTORS", "PREFIX", "Concern", "View"]
