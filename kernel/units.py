"""Units written once: durations ("90s", "1m30s"), probe intervals, sizes ("64GiB", "1Gbit"), bandwidth."""

from __future__ import annotations

import re
from typing import Any

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


def check_interval(value: float) -> float:
    """``value`` if it is a probe interval (at least a second apart, at most a day), else ValueError."""
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise ValueError(
            f"a probe interval must be between 1s and 1d, not {format_duration(value)}"
            + (" (shorter ones would keep a core busy)" if value < MIN_INTERVAL else "")
        )
    return value


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kMGT]i?)?(B|bit|bps)$")
_SIZE_UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30,
               "Ti": 2.0**40}  # fmt: skip
_EXAMPLES = {"B": "64GiB or 500GB", "bit": "1Gbit or 100Mbit", "bps": "100Mbps or 1Gbps"}


def parse_size(value: str, unit: str) -> float:
    """'64GiB' -> bytes (unit 'B'), '1Gbit' -> bits (unit 'bit'), '100Mbps' -> bits per second ('bps')."""
    m = _SIZE.match(value.strip())
    if not m or m.group(3) != unit:
        raise ValueError(f"expected a size in {unit} such as {_EXAMPLES[unit]}, not {value!r}")
    return float(m.group(1)) * _SIZE_UNITS[m.group(2) or ""]
