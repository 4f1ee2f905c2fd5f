"""The one hysteresis of vigia: consecutive failures take a thing down, consecutive successes up.

Targets and zones both keep a ``Streak``: how many results in a row failed or succeeded, and when
that run began. An outage starts at the first failure of the run that took the thing down and
ends at the first success of the run that brought it back, so the hysteresis never flatters
availability.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Streak:
    failures: int = 0
    successes: int = 0
    first_failure_at: datetime | None = None
    first_success_at: datetime | None = None

    def fail(self, at: datetime) -> None:
        if self.failures == 0:
            self.first_failure_at = at
        self.failures += 1
        self.successes = 0
        self.first_success_at = None

    def succeed(self, at: datetime) -> None:
        if self.successes == 0:
            self.first_success_at = at
        self.successes += 1
        self.failures = 0
        self.first_failure_at = None

    def reset(self) -> None:
        """Start afresh (a maintenance window ended): what came before says nothing now."""
        self.failures = self.successes = 0
        self.first_failure_at = self.first_success_at = None
