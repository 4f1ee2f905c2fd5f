"""Which maintenance window, if any, covers a target at a given moment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from config import Maintenance


def active_window(windows: Iterable[Maintenance], target: str, at: datetime) -> Maintenance | None:
    """The first window covering ``target`` at ``at`` (an aware datetime)."""
    for w in windows:
        if target not in w.targets:
            continue
        if w.trigger is not None:
            # The last start at or before `at` is the first fire time at or after `at - duration`.
            begin = at - timedelta(seconds=w.duration)
            fire = w.trigger.get_next_fire_time(None, begin)
            if fire is not None and fire <= at < fire + timedelta(seconds=w.duration):
                return w
        elif w.start is not None and w.end is not None and w.start <= at < w.end:
            return w
    return None
