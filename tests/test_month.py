"""The one Month type: bounds in the configured timezone, across year ends and DST-free Bogotá alike."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kernel.month import Month

BOGOTA = ZoneInfo("America/Bogota")
MADRID = ZoneInfo("Europe/Madrid")


def test_bounds_are_local_midnights() -> None:
    start, end = Month(2025, 12).bounds(BOGOTA)
    assert start.isoformat() == "2025-12-01T00:00:00-05:00"
    assert end.isoformat() == "2026-01-01T00:00:00-05:00"
    # A month with a DST change is one hour short where the clocks move.
    start, end = Month(2025, 3).bounds(MADRID)
    assert end.timestamp() - start.timestamp() == 31 * 86400 - 3600  # instants, not wall clocks


def test_the_month_of_an_instant_depends_on_the_timezone() -> None:
    at = datetime(2025, 2, 1, 3, 0, tzinfo=UTC)  # still January 31st in Bogotá
    assert Month.of(at, BOGOTA) == Month(2025, 1)
    assert Month.of(at, MADRID) == Month(2025, 2)


def test_shift_parse_and_order() -> None:
    assert Month(2025, 1).previous() == Month(2024, 12)
    assert Month(2025, 12).next() == Month(2026, 1)
    assert Month(2025, 3).shift(-14) == Month(2024, 1)
    assert Month.parse("2025-07") == Month(2025, 7) and str(Month(2025, 7)) == "2025-07"
    assert Month(2024, 12) < Month(2025, 1)
    for bad in ("2025-13", "2025", "julio", "2025-00"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Month.parse(bad)
