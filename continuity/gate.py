"""Where scheduled drills may run when several vigia instances share one plan.

A gate admits one instance per drill and due time (the daemon's is the leader lease and a
claim per period, monitor.leadership); the fence it hands out is checked before each disruptive
step, so an instance that lost the lease mid-drill stops disrupting and rolls back. Manual runs
(`vigia drill run`) are an operator's explicit act and pass no gate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Fence(Protocol):
    def check(self) -> str | None:
        """None while this process may go on disrupting; otherwise why it may not."""

    def done(self, ok: bool, detail: str) -> None:
        """The run ended (``detail``: its verdict)."""


class Gate(Protocol):
    def enter(self, drill_id: str, scheduled_for: float) -> Fence | None:
        """A fence if this instance runs the drill due at ``scheduled_for``; None if another does
        (or did: a period runs once)."""


def period(scheduled_for: float) -> str:
    """The due time as every instance names it: schedules are cron lines, minute-grained, and a
    job fires at or a little after its time."""
    return datetime.fromtimestamp(scheduled_for, UTC).strftime("%Y-%m-%dT%H:%MZ")
