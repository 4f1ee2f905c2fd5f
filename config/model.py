"""The configuration resolved: defaults applied, every section typed; what the daemon, the
command line and the reports read."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from config.sections import (
    ActionPlanLine,
    DatacenterSettings,
    Defaults,
    ProbingSettings,
    ReportSettings,
    SecuritySettings,
    StoreSettings,
    WebSettings,
)
from domain.zones import Zone
from probes.radius import RadiusSettings
from probes.settings import Settings


@dataclass(frozen=True)
class Target:
    """A target as the daemon sees it: defaults applied, settings validated."""

    id: str
    probe: str
    group: str
    labels: dict[str, str]
    description: str
    interval: float
    timeout: float
    failures_before_down: int
    successes_before_up: int
    packets: int
    settings: Settings


@dataclass(frozen=True)
class Maintenance:
    id: str
    targets: frozenset[str]
    reason: str
    trigger: CronTrigger | None
    duration: float
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Config:
    file: str
    timezone: zoneinfo.ZoneInfo
    instance: str
    state_dir: str
    log_level: str
    defaults: Defaults
    probing: ProbingSettings
    store: StoreSettings
    web: WebSettings
    targets: tuple[Target, ...]
    maintenance: tuple[Maintenance, ...] = ()
    zones: tuple[Zone, ...] = ()
    continuity_plan: str | None = None
    drills_paused: bool = False
    watchdog: tuple[str, ...] = ()  # zone_defaults.watchdog: vigia's own uplink
    radius: RadiusSettings | None = None
    security: SecuritySettings = field(default_factory=SecuritySettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    datacenter: DatacenterSettings = field(default_factory=DatacenterSettings)
    action_plan: tuple[ActionPlanLine, ...] = ()

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)
