"""One collector per metrics concern, in the order their families appear in /metrics."""

from __future__ import annotations

from monitor.collectors.base import PREFIX, Concern, DaemonView
from monitor.collectors.cluster import ClusterCollector
from monitor.collectors.drills import DrillCollector
from monitor.collectors.findings import FindingCollector
from monitor.collectors.incidents import IncidentCollector
from monitor.collectors.runtime import RuntimeCollector
from monitor.collectors.targets import TargetCollector
from monitor.collectors.traffic import TrafficCollector
from monitor.collectors.usage import UsageCollector
from monitor.collectors.zones import ZoneCollector

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
)

__all__ = ["COLLECTORS", "PREFIX", "Concern", "DaemonView"]
