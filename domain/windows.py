"""A maintenance window an operator adds from the command line: checked before it is stored."""

from __future__ import annotations

from dataclasses import dataclass

REASON_MAX = 200


class WindowError(ValueError):
    """Bad input for a maintenance window: the message names what and why; nothing is stored."""


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
    if end <= start:
        raise WindowError("the end must be after the start")
    reason = reason.strip()
    if not reason:
        raise WindowError("the reason is empty")
    if len(reason) > REASON_MAX:
        raise WindowError(f"the reason has {len(reason)} characters; at most {REASON_MAX}")
    return reason
