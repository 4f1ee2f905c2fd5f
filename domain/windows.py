"""Maintenance windows: the one shape every part uses (configured windows, one-off or recurring,
and those operators add from the command line), when an occurrence is under way or next, and the
checks a window passes before it is stored."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kernel.errors import InputError
from kernel.text import checked

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

REASON_MAX = 200
# The longest a window may be, configured or added from the command line. Maintenance is planned
# work: a zone out for longer than a year is closed, which its schedule (``hours: cerrado``) says.
MAX_WINDOW_DAYS = 366
# A window lies between these: nothing vigia measured is older than EARLIEST, and a window more
# than YEARS_AHEAD ahead is a typo (9999-12-31) that every later date computation would trip on.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
YEARS_AHEAD = 10


@dataclass(frozen=True)
class Maintenance:
    """A window and what it covers: the zones, their checks and the targets named (``targets``).
    Recurring (crontab start times in ``trigger`` and a ``duration`` in seconds) or one-off
    (``start`` to ``end``, aware datetimes)."""

    id: str
    targets: frozenset[str]
    reason: str
    trigger: BaseTrigger | None
    duration: float
    start: datetime | None
    end: datetime | None

    def occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence under way at ``at`` (an aware datetime), else the next one; None when
        there is none (a one-off window over)."""
        if self.trigger is not None:
            # The last start at or before `at` is the first fire time at or after `at - duration`.
            fire = self.trigger.get_next_fire_time(None, at - timedelta(seconds=self.duration))
            return None if fire is None else (fire, fire + timedelta(seconds=self.duration))
        if self.start is not None and self.end is not None and at < self.end:
            return self.start, self.end
        return None

    def covers(self, target: str, at: datetime) -> bool:
        """Whether ``target`` is in this window at ``at``."""
        if target not in self.targets:
            return False
        span = self.occurrence(at)
        return span is not None and span[0] <= at < span[1]


def active_window(windows: Iterable[Maintenance], target: str, at: datetime) -> Maintenance | None:
    """The first window covering ``target`` at ``at``."""
    return next((w for w in windows if w.covers(target, at)), None)


class WindowError(InputError):
    """Bad input for a maintenance window: the message names what and why; nothing is stored."""


def span_problem(start: float, end: float, now: float | None = None) -> tuple[str, str] | None:
    """Why [start, end) cannot be a maintenance window, as (the key at fault: start or end, the
    reason), or None: the domain's one rule for configured windows and those added from the
    command line."""
    latest = (time.time() if now is None else now) + YEARS_AHEAD * 366 * 86400
    for key, at in (("start", start), ("end", end)):
        if not EARLIEST <= at <= latest:
            return key, f"the {key} is not between 2000-01-01 and {YEARS_AHEAD} years from now"
    if end <= start:
        return "end", "the end must be after the start"
    if end - start > MAX_WINDOW_DAYS * 86400:
        days = (end - start) / 86400
        return (
            "end",
            f"the window lasts {days:.0f} days; at most {MAX_WINDOW_DAYS} (a zone closed for longer: hours: cerrado)",
        )
    return None


@dataclass(frozen=True)
class StoredWindow:
    id: int
    zones: tuple[str, ...]
    targets: tuple[str, ...]
    start: float
    end: float
    reason: str
    created_at: float
    created_by: str
    cancelled_at: float | None = None
    cancelled_by: str | None = None

    @property
    def name(self) -> str:
        """The window's name in states and reports, apart from configured windows' ids."""
        return f"cli-{self.id}"


def check_window(
    zones: list[str], targets: list[str], known_zones: set[str], known_targets: set[str],
    start: float, end: float, reason: str,
) -> str:  # fmt: skip
    """The checked reason; WindowError naming the first problem."""
    if not zones and not targets:
        raise WindowError("no zone or target given (--zones ZD-01,ZD-02 and/or --targets ID,ID)")
    unknown = [z for z in zones if z not in known_zones] + [t for t in targets if t not in known_targets]
    if unknown:
        raise WindowError(f"unknown zone(s) or target(s) {', '.join(unknown)}: not in the configuration")
    for listed in (zones, targets):
        if len(set(listed)) != len(listed):
            raise WindowError(f"listed twice: {', '.join(listed)}")
    problem = span_problem(start, end)
    if problem is not None:
        raise WindowError(problem[1])
    try:
        return checked("the reason", reason, REASON_MAX)
    except InputError as exc:
        raise WindowError(str(exc)) from None


@dataclass(frozen=True)
class Planned:
    """One occurrence of a window within a month, as the report names a planned period's evidence:
    its reason and where it came from (the configuration, or `vigia maintenance` with who and when)."""

    name: str
    covers: tuple[str, ...]
    start: float
    end: float
    reason: str
    added_by: str = ""  # empty: the configuration
    added_at: float | None = None


OCCURRENCES_MAX = 2000  # a window every 30 minutes for a month and more; beyond that, a typo


def occurrences(w: Maintenance, start: float, end: float) -> list[tuple[float, float]]:
    """The occurrences of a configured window overlapping [start, end), in order (bounded)."""
    if w.trigger is None:
        if w.start is None or w.end is None or not (w.start.timestamp() < end and w.end.timestamp() > start):
            return []
        return [(w.start.timestamp(), w.end.timestamp())]
    out: list[tuple[float, float]] = []
    at = datetime.fromtimestamp(start - w.duration, UTC)
    for _ in range(OCCURRENCES_MAX):
        fire = w.trigger.get_next_fire_time(None, at)
        if fire is None or fire.timestamp() >= end:
            break
        out.append((fire.timestamp(), fire.timestamp() + w.duration))
        at = fire + timedelta(seconds=1)
    return out


def planned_in(configured: Iterable[Maintenance], stored: Iterable[StoredWindow], start: float,
               end: float) -> list[Planned]:  # fmt: skip
    """Every window occurrence overlapping [start, end): configured ones, then those added from the
    command line (cancelled ones are not passed in)."""
    out = [
        Planned(w.id, tuple(sorted(w.targets)), a, b, w.reason)
        for w in configured
        for a, b in occurrences(w, start, end)
    ]
    out += [Planned(w.name, w.zones + w.targets, w.start, w.end, w.reason, w.created_by, w.created_at) for w in stored]
    return out


def evidence(planned: Iterable[Planned], zone: str, start: float, end: float) -> Planned | None:
    """The window that covers ``zone`` for most of [start, end): a planned period's evidence."""
    best, most = None, 0.0
    for p in planned:
        if zone in p.covers:
            shared = min(end, p.end) - max(start, p.start)
            if shared > most:
                best, most = p, shared
    return best
