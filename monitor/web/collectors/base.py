"""What every metrics collector shares: the prefix, the view it reads, and the Concern base.

One collector per concern, each registered with ``describe()`` naming every family it can yield, so
two collectors that claim one metric name fail when the registry is built, at start, not silently
in a scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from config import Target
from continuity.plan import Plan
from continuity.status import DrillStatus
from domain.findings import Finding
from domain.incidents import Incident
from domain.state import TargetState
from domain.traffic import ZoneTraffic
from domain.zone_state import ZoneState
from domain.zones import Zone
from monitor.runtime.stats import DaemonStats
from monitor.runtime.usage import RadiusSnapshot
from store.agents import AgentRow

PREFIX = "vigia_"


class View(Protocol):
    """What a collector reads: the runtime's LiveView (monitor.runtime.live) in the daemon; a
    benchmark or a test gives its own."""

    stats: DaemonStats

    def current_targets(self) -> tuple[Target, ...]: ...

    def current_states(self) -> dict[str, TargetState]: ...

    def current_zones(self) -> tuple[Zone, ...]: ...

    def current_zone_states(self) -> dict[str, ZoneState]: ...

    def current_radius(self) -> RadiusSnapshot | None: ...

    def current_traffic(self) -> dict[str, ZoneTraffic]: ...

    def current_drills(self) -> tuple[Plan | None, dict[str, DrillStatus]]: ...

    def current_findings(self) -> list[Finding]: ...

    def current_incidents(self) -> list[Incident]: ...

    def current_agents(self) -> list[AgentRow]: ...

    def current_timezone(self) -> ZoneInfo: ...


class Concern(Collector):
    """A collector of one concern: ``families(view)`` with the view's data, ``describe()`` without."""

    def __init__(self, view: View) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        yield from self.families()

    def families(self) -> Iterator[Metric]:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        raise NotImplementedError


class Kept:
    """Families made again only when what they are made of changed: given the same ``key`` (equal:
    the objects themselves, or the figures read from them) it returns the very families it made
    last time, which the renderer then does not render again (monitor.web.textformat). The key
    must hold everything the families print."""

    def __init__(self) -> None:
        # One attribute holding both: refreshes on two threads never pair one's key with the other's families.
        self._kept: tuple[Any, tuple[Metric, ...]] | None = None

    def get(self, key: Any, make: Callable[[], Iterator[Metric]]) -> tuple[Metric, ...]:
        kept = self._kept
        if kept is None or kept[0] != key:
            kept = self._kept = (key, tuple(make()))
        return kept[1]
