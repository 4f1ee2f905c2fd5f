"""A target as the daemon and the zone agent probe it: defaults applied, settings validated.

Its own module, apart from the configuration that resolves it, so a zone agent (which receives its
checks resolved by the centre) runs them without loading the whole configuration's models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from probes.settings import Settings

if TYPE_CHECKING:  # the agent's targets have no schedule: it need not load the calendars' rules
    from domain.schedule import Schedule


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
    schedule: Schedule | None = None  # targets[].hours or its group's: the service's SLA hours
