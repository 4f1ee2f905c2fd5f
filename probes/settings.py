"""Shared building blocks for probe settings models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}


def parse_duration(value: Any) -> float:
    """Parse a Prometheus-style duration ("90s", "1m30s", "250ms", "35d") into seconds.

    Bare numbers are refused on purpose: "60" could mean seconds or minutes.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"a duration must be a string such as '30s' or '5m', not {value!r}")
    text = value.strip()
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d, w, y), e.g. '30s', '1m30s', '35d'"
        )
    if total > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than 100y")
    return total


def format_duration(seconds: float) -> str:
    """Inverse of parse_duration for messages ("90" -> "1m30s")."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    parts = []
    rest = seconds
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if rest >= size:
            n = int(rest // size)
            parts.append(f"{n}{unit}")
            rest -= n * size
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)


# Longer than any schedule vigia keeps; past it, date arithmetic in the scheduler overflows.
MAX_DURATION = 100 * _UNIT_SECONDS["y"]
MIN_INTERVAL, MAX_INTERVAL = 1.0, 86400.0

Duration = Annotated[float, BeforeValidator(parse_duration)]


def _interval_range(value: float) -> float:
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise ValueError(
            f"a probe interval must be between 1s and 1d, not {format_duration(value)}"
            + (" (shorter ones would keep a core busy)" if value < MIN_INTERVAL else "")
        )
    return value


# How often something is probed: at least a second apart, at most a day.
Interval = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_interval_range)]


class Settings(BaseModel):
    """Base of every probe's settings: strict types, unknown keys refused, frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def sockets(self) -> int:
        """Sockets one check with these settings holds at once (the probe engine's in-flight unit)."""
        return 1


def _valid_regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            re.compile(value)
        except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296} overflows, not re.error
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
    return value


Regex = Annotated[str, BeforeValidator(_valid_regex)]


class Secret(Settings):
    """A secret given by file or environment variable, never inline."""

    file: str | None = None
    env: str | None = None

    def model_post_init(self, _context: Any) -> None:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")

    def read(self) -> str:
        """The secret's value; raises OSError/KeyError for the caller to report."""
        import os

        if self.file is not None:
            with open(self.file, encoding="utf-8") as fh:
                return fh.read().strip()
        assert self.env is not None
        return os.environ[self.env]
