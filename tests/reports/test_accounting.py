"""Outage accounting in the monthly report, from measured periods whose figures are worked out by
hand here: outages within operating hours, the longest, MTTR, MTBF, and an outage wholly outside
the hours listed in a class of its own (never as unplanned downtime)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from reports.monthly import month_figures
from reports.monthly_report import render
from reports.opendata import outages_csv
from reports.page import Header
from store import db as st
from tests.measured import write_cycles
from tests.test_zones import zone as plain_zone

TZ = ZoneInfo("America/Bogota")


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, 10, hour, minute, tzinfo=TZ).timestamp()


OFFICE = plain_zone("08:00-18:00")
ALWAYS = dataclasses.replace(plain_zone("00:00-24:00"), id="ZD-02")
DOWNS = {
    # 07:00-07:30 wholly before opening; 09:00-09:10; 12:00-12:20; 17:50-18:10 across the closing time.
    "ZD-01": [(at(7), at(7, 30)), (at(9), at(9, 10)), (at(12), at(12, 20)), (at(17, 50), at(18, 10))],
    "ZD-02": [(at(10), at(10, 30))],
}


@pytest.fixture
def figures(url: str):  # type: ignore[no-untyped-def]
    store = st.Store(url, "centro")
    store.migrate()
    write_cycles(store, DOWNS, (at(0) + m * 60 for m in range(6 * 60, 20 * 60)))  # one-minute cycles, 06:00 to 20:00
    try:
        yield month_figures(store.reader(), [OFFICE, ALWAYS], 2026, 11, TZ, at(0) + 40 * 86400)
    finally:
        store.close()


def test_the_outage_accounting_worked_out_by_hand(figures) -> None:  # type: ignore[no-untyped-def]
    one = next(z for z in figures.zones if z.zone.id == "ZD-01")
    two = next(z for z in figures.zones if z.zone.id == "ZD-02")
    a = one.accounting
    # Within 08:00-18:00: three outages touch the hours; the one before opening does not count.
    assert (a.outages, a.outside_hours) == (3, 1)
    assert one.availability.measured_seconds == 10 * 3600
    assert one.availability.downtime_seconds == (10 + 20 + 10) * 60  # 17:50-18:00 only, of the last
    assert a.longest_seconds == 20 * 60
    assert a.mttr_seconds == pytest.approx((10 + 20 + 20) * 60 / 3)
    assert a.mtbf_seconds == pytest.approx((10 * 3600 - 40 * 60) / 3)
    b = two.accounting
    assert (b.outages, b.longest_seconds, b.mttr_seconds) == (1, 1800, 1800)
    up_two = two.availability.measured_seconds - 30 * 60
    total = figures.accounting
    assert (total.outages, total.outside_hours, total.longest_seconds) == (4, 1, 1800)
    assert total.mttr_seconds == pytest.approx((50 * 60 + 30 * 60) / 4)
    assert total.mtbf_seconds == pytest.approx((10 * 3600 - 40 * 60 + up_two) / 4)
    # The early outage is listed apart: never unplanned, never in the open data's outages.
    listed = [(i.zone, i.classification, round(i.seconds / 60)) for i in figures.incidents()]
    assert listed[0] == ("ZD-01", "outside hours", 30)
    assert [c for _, c, _ in listed].count("unplanned") == 4
    assert "T07:00:00" not in outages_csv(figures).decode()


def test_the_report_shows_the_accounting_and_the_trend(figures) -> None:  # type: ignore[no-untyped-def]
    html = render(figures, lang="es", header=Header("Alcaldía", "Oficina", "Ciudad"))
    row = html[html.index('data-accounting="ZD-01"') :].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split('<td class="n">')[1:]]
    # outages, longest (min), MTTR (min), MTBF (h, es_CO decimals), outside hours
    assert cells == ["3", "20,0", "16,7", "3,1", "1"]
    assert "Contabilidad de caídas" in html and "fuera de horario" in html
    trend = html[html.index('data-trend="2026-11"') :].split("</tr>")[0]
    assert '<td class="n">4</td>' in trend
