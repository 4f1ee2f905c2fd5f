"""The configuration resolved: defaults applied, every section typed; what the daemon, the
command line and the reports read."""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field

from config.sections import (
    ActionPlanLine,
    ClusterSettings,
    DatacenterSettings,
    Defaults,
    ProbingSettings,
    ReportSettings,
    SecuritySettings,
    StatusPageSettings,
    StoreSettings,
    WebSettings,
)
from domain.schedule import Calendar
from domain.target import Target
from domain.windows import Maintenance
from domain.zones import Zone
from kernel.errors import StoreError
from probes.usage.radius import RadiusSettings


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
    ha_group: str | None = None
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    status_page: StatusPageSettings | None = None
    calendar: Calendar = field(default_factory=Calendar)

    @property
    def group(self) -> str:
        """What this instance's singleton work is scoped to: its HA group, or itself."""
        return self.ha_group or self.instance

    @property
    def cycle_intervals(self) -> set[float]:
        """The probe cycles' intervals: the targets', and those of zones judged by an agent (a
        zone with an agent and no central check still needs its cycle to be folded)."""
        return {t.interval for t in self.targets} | {z.interval for z in self.zones if z.agent is not None}

    def store_url(self) -> str:
        """The store URL from the file, a file it names or the environment; SQLite in the state
        directory by default. StoreError when the file or variable named cannot give one."""
        s = self.store
        if s.url_file:
            try:
                with open(s.url_file, encoding="utf-8") as fh:
                    return fh.read().strip()
            except (OSError, UnicodeDecodeError) as exc:
                why = getattr(exc, "strerror", None) or exc
                raise StoreError(f"cannot read store.url_file {s.url_file}: {why}") from None
        if s.url_env:
            value = os.environ.get(s.url_env)
            if not value:
                raise StoreError(f"store.url_env names {s.url_env!r}, which is not set")
            return value
        if s.url:
            return s.url
        return "sqlite:///" + os.path.abspath(os.path.join(self.state_dir, "vigia.db"))

    def target(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)
