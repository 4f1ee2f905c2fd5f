"""Defaults, written once: a value set where the entry is wins, else its section's defaults
(``zone_defaults``), else the file's ``defaults``, which always has one.

Targets and zones both inherit a check's timing this way; ``packets`` comes from the probe's own
settings when its kind has them.
"""

from __future__ import annotations

from typing import TypedDict, TypeVar

from config.sections import Defaults

T = TypeVar("T")


def inherit(*levels: T | None) -> T:
    """The first level that sets a value, most specific first; the last level always does."""
    for value in levels:
        if value is not None:
            return value
    raise AssertionError("the file's defaults set every value")


class Timing(TypedDict):
    """How often a check runs, how long it may take, and how many results move its state."""

    interval: float
    timeout: float
    failures_before_down: int
    successes_before_up: int


def timing(level: object, d: Defaults) -> Timing:
    """``level``: an entry or a section of defaults, whose unset (None) values fall through to ``d``."""
    return Timing(
        interval=inherit(getattr(level, "interval", None), d.interval),
        timeout=inherit(getattr(level, "timeout", None), d.timeout),
        failures_before_down=inherit(getattr(level, "failures_before_down", None), d.failures_before_down),
        successes_before_up=inherit(getattr(level, "successes_before_up", None), d.successes_before_up),
    )


def packets(settings: object, d: Defaults) -> int:
    """Echo requests per check: the probe's own setting (ICMP), else the file's default."""
    own: int | None = getattr(settings, "packets", None)
    return inherit(own, d.packets)
