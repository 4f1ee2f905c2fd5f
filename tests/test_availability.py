"""Availability arithmetic for a month, against figures worked out by hand."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.availability import Period, month_window, zone_availability
from domain.intervals import Spans
from domain.schedule import Schedule, WeekPlan

BOGOTA = ZoneInfo("America/Bogota")
HOURS = Schedule(WeekPlan.parse("06:00-22:00"))


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BOGOTA).timestamp()


def test_spans_algebra() -> None:
    a = Spans.of([(0, 10), (5, 15), (20, 30)])
    assert a.items == ((0, 15), (20, 30))
    b = Spans.of([(10, 25)])
    assert (a & b).items == ((10, 15), (20, 25))
    assert (a - b).items == ((0, 10), (25, 30))
    assert (a | b).items == ((0, 30),)
    assert (a - b).seconds == 15


def test_month_boundaries_are_local() -> None:
    start, end = month_window(2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    assert datetime.fromtimestamp(start, ZoneInfo("UTC")).isoformat() == "2025-01-01T05:00:00+00:00"
    assert end - start == 31 * 86400
    assert month_window(2025, 1, BOGOTA, now=t("2025-01-10 00:00"))[1] == t("2025-01-10 00:00")


def test_operating_hours_overnight() -> None:
    spans = Schedule(WeekPlan.parse("18:00-02:00")).spans(t("2025-01-01 00:00"), t("2025-01-03 00:00"), BOGOTA)
    assert spans.items == (
        (t("2025-01-01 00:00"), t("2025-01-01 02:00")),
        (t("2025-01-01 18:00"), t("2025-01-02 02:00")),
        (t("2025-01-02 18:00"), t("2025-01-03 00:00")),
    )


def test_a_month_worked_out_by_hand() -> None:
    window = month_window(2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    periods = [
        Period("maintenance", t("2025-01-05 02:00"), t("2025-01-05 04:00")),  # outside hours
        Period("maintenance", t("2025-01-12 21:00"), t("2025-01-12 23:00")),  # 1 h inside
        Period("down", t("2024-12-31 23:00"), t("2025-01-01 07:00")),  # straddles the month start
        Period("down", t("2025-01-10 08:00"), t("2025-01-10 09:30")),
        Period("down", t("2025-01-15 21:30"), t("2025-01-16 06:30")),  # overnight: 1 h in hours
        Period("down", t("2025-01-20 11:00"), t("2025-01-20 13:00")),  # half of it while vigia was down
        Period("degraded", t("2025-01-25 10:00"), t("2025-01-25 11:00")),
    ]
    covered = [(window[0] - 86400, t("2025-01-20 10:00")), (t("2025-01-20 12:00"), window[1] + 86400)]
    a = zone_availability(periods, covered, window, BOGOTA, HOURS, sla_target=0.98)
    assert a.operating_seconds == 31 * 16 * 3600
    assert a.maintenance_seconds == 3600
    assert a.no_data_seconds == 7200
    assert a.measured_seconds == 1_774_800
    assert a.downtime_seconds == 3600 + 5400 + 3600 + 3600
    assert a.degraded_seconds == 3600
    assert a.availability == pytest.approx((1_774_800 - 16_200) / 1_774_800)
    assert a.coverage == pytest.approx(1_774_800 / 1_782_000)
    assert a.incidents == 4
    assert a.mttr_seconds == (25_200 + 5_400 + 32_400 + 7_200) / 4
    assert a.longest_outage_seconds == 32_400
    assert a.sla_met is True


def test_open_outage_and_a_month_without_data() -> None:
    window = month_window(2025, 2, BOGOTA, now=t("2025-02-11 00:00"))
    a = zone_availability(
        [Period("down", t("2025-02-10 20:00"), None)], [(window[0], window[1])], window, BOGOTA, None, sla_target=0.98
    )
    assert a.downtime_seconds == 4 * 3600 and a.incidents == 1 and a.mttr_seconds is None
    assert a.availability == pytest.approx(1 - 4 / (10 * 24))
    assert a.sla_met is True
    empty = zone_availability([], [], window, BOGOTA, HOURS, sla_target=0.98)
    assert empty.availability is None and empty.coverage == 0.0 and empty.sla_met is None
