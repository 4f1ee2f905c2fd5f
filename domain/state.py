"""Per-target state: up / down / unknown / maintenance, with hysteresis, and outages.

A target goes down after ``failures_before_down`` consecutive failed probes and
up after ``successes_before_up`` consecutive successes. An outage starts at the
first failure of the streak that took the target down (not when the threshold
was reached), so availability is not flattered by the hysteresis, and ends at
the first success of the streak that brought it back.

Failures that say nothing about the target (vigia lacks a privilege, a probe
overran, its loop noticed a deadline late) are "no data": they neither count
towards down nor reset a streak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.hysteresis import Streak
from probes import result as r
from probes.result import ProbeResult

# Reasons that describe vigia's own trouble, not the target's.
NO_DATA_REASONS = frozenset({r.PERMISSION, r.INTERNAL, r.OVERRUN, r.LATE})
# Of those, vigia being too busy for a moment (a check not started in time, a deadline noticed late):
# a gap only once it lasts, unlike a missing privilege or a bug, which stay until someone acts.
BUSY_REASONS = frozenset({r.OVERRUN, r.LATE})


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"
    MAINTENANCE = "maintenance"


STATE_VALUES = {State.UNKNOWN: -1.0, State.DOWN: 0.0, State.UP: 1.0, State.MAINTENANCE: 2.0}


@dataclass(frozen=True)
class Transition:
    target: str
    at: datetime
    old: State
    new: State
    reason: str
    message: str
    # For a new outage, when it really began (first failure of the streak).
    outage_start: datetime | None = None


@dataclass
class TargetState:
    target: str
    failures_before_down: int
    successes_before_up: int
    state: State = State.UNKNOWN
    since: datetime | None = None
    streak: Streak = field(default_factory=Streak)
    last: ProbeResult | None = None
    measured_at: datetime | None = None  # the start of the last result that said something of the target
    last_reason: str = ""
    last_message: str = ""
    maintenance_id: str = ""
    transitions: int = 0
    results: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})

    def observe(self, result: ProbeResult) -> Transition | None:
        """Fold one probe result in; return the state change it caused, if any."""
        self.last = result
        if not result.success and result.reason in NO_DATA_REASONS:
            self.last_reason, self.last_message = result.reason, result.message
            return None
        self.results[result.success] += 1
        self.measured_at = result.started_at
        at, streak = result.started_at, self.streak
        if result.success:
            streak.succeed(at)
        else:
            streak.fail(at)
            self.last_reason, self.last_message = result.reason, result.message
        if self.state == State.MAINTENANCE:
            return None
        if result.success and self.state != State.UP and streak.successes >= self.successes_before_up:
            return self._move(State.UP, streak.first_success_at or at, "", "")
        if not result.success and self.state != State.DOWN and streak.failures >= self.failures_before_down:
            start = streak.first_failure_at or at
            return self._move(State.DOWN, at, result.reason, result.message, outage_start=start)
        return None

    def enter_maintenance(self, at: datetime, window_id: str, reason: str) -> Transition | None:
        self.maintenance_id = window_id
        if self.state == State.MAINTENANCE:
            return None
        return self._move(State.MAINTENANCE, at, "maintenance", reason or window_id)

    def leave_maintenance(self, at: datetime) -> Transition | None:
        if self.state != State.MAINTENANCE:
            return None
        self.maintenance_id = ""
        self.streak.reset()  # what happened inside the window says nothing about after it
        return self._move(State.UNKNOWN, at, "", "")

    def _move(
        self, new: State, at: datetime, reason: str, message: str, *, outage_start: datetime | None = None
    ) -> Transition:
        old = self.state
        self.state = new
        self.since = outage_start or at
        self.transitions += 1
        return Transition(self.target, at, old, new, reason, message, outage_start)
