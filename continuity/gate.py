"""Where scheduled drills may run when several vigia instances share one plan.

A gate admits one instance per drill and due time (the daemon's is the leader lease and a
claim per period, monitor.jobs.leadership); the fence it hands out is checked before each disruptive
step, so an instance that lost the lease mid-drill stops disrupting and rolls back. Manual runs
(`vigia drill run`) are an operator's explicit act and pass no gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

PERIOD_FORMAT = "%Y-%m-%dT%H:%MZ"


@dataclass(frozen=True)
class Interrupted:
    """A scheduled run whose instance stopped in the middle of it (killed, or cut off for good)."""

    drill_id: str
    scheduled_for: float
    holder: str  # the process that was running it
    disrupted: bool  # a disruptive step had begun: the run needs its rollback


class Fence(Protocol):
    def check(self) -> str | None:
        """None while this process may go on disrupting; otherwise why it may not."""

    def done(self, ok: bool, detail: str) -> None:
        """The run ended (``detail``: its verdict)."""


class Gate(Protocol):
    def enter(self, drill_id: str, scheduled_for: float) -> Fence | None:
        """A fence if this instance runs the drill due at ``scheduled_for``; None if another does
        (or did: a period runs once)."""

    def interrupted(self) -> list[Interrupted]:
        """Runs another instance left unfinished when it stopped (the leader sees them; others, none)."""

    def take_over(self, run: Interrupted) -> Fence | None:
        """The right to recover ``run`` here, once; None if another instance does."""

    def owe(self, drill_id: str, scheduled_for: float) -> None:
        """Note that the run due at ``scheduled_for`` fell due here while this instance did not lead:
        if nobody claims it (the leader died at that second), the next leader settles it."""

    def owed(self) -> list[tuple[str, float]]:
        """(drill, due time) of runs seen due and claimed by nobody (the leader sees them; others, none)."""

    def settled(self, drill_id: str, scheduled_for: float) -> bool | None:
        """Whether the run due at ``scheduled_for`` has ended (here or where it was taken over);
        None if no instance ever claimed it."""


def period(scheduled_for: float) -> str:
    """The due time as every instance names it: schedules are cron lines, minute-grained, and a
    job fires at or a little after its time."""
    return datetime.fromtimestamp(scheduled_for, UTC).strftime(PERIOD_FORMAT)


def due(name: str) -> float:
    """The due time a period names (``period``'s inverse, to the minute)."""
    return datetime.strptime(name, PERIOD_FORMAT).replace(tzinfo=UTC).timestamp()
