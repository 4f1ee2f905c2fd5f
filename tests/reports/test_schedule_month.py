"""November 2025, worked out by hand, through the whole report: a library zone open Monday to
Friday 07:00-12:00 and 14:00-19:00 and Saturday 08:00-13:00, closed on Sundays and holidays (3 and
17 November, observed Mondays). 18 weekdays x 10 h + 5 Saturdays x 5 h = 205 scheduled hours. It
is down from Saturday 15 at 12:00 to Tuesday 18 at 09:00: of that, only Saturday 12:00-13:00 and
Tuesday 07:00-09:00 were scheduled, 3 h. Availability 202/205 = 98.54 %, target 98 %: met."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pypdf import PdfReader

import config as cfg
from render.engine import html_to_pdf
from reports.close import _freeze, thaw
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.opendata import csv_bytes
from reports.page import Header
from store import db as st
from tests.reports.test_monthly_report import Cells
from tests.reports.test_opendata import BOGOTA, t

CONFIG = """timezone: America/Bogota
zone_defaults: {sla_target: 0.98}
zones:
  - {id: ZD-07, name: Biblioteca Balbino Carreazo, barrio: El Pozón, localidad: De la Virgen y Turística,
     lat: 10.40, lon: -75.49,
     hours: {lun-vie: "07:00-12:00,14:00-19:00", sab: "08:00-13:00", dom: cerrado, festivos: cerrado}}
  - {id: ZD-01, name: Plaza de la Aduana, barrio: Centro, localidad: Histórica y del Caribe Norte,
     lat: 10.42, lon: -75.55, hours: "06:00-22:00"}
"""


@pytest.fixture
def november(tmp_path: Path) -> tuple[st.Store, cfg.Config]:
    (tmp_path / "c.yml").write_text(CONFIG)
    conf = cfg.parse(str(tmp_path / "c.yml"), state_dir=str(tmp_path))
    store = st.Store(f"sqlite:///{tmp_path}/vigia.db", "cdc")
    store.migrate()
    start = t("2025-10-31 23:45")
    samples = [
        st.ZoneSample(z, start + k * 900, 900.0, "up", "ok", True, 0.0, 0.001, "{}")
        for z in ("ZD-07", "ZD-01")
        for k in range(31 * 96)
    ]
    store.write_cycle([], [], 0.0, samples)
    store.write_cycle(
        [],
        [
            st.StateChange("ZD-07", "up", "down", t("2025-11-15 12:05"), t("2025-11-15 12:00"), "gateway_timeout"),
            st.StateChange("ZD-07", "down", "up", t("2025-11-18 09:00"), t("2025-11-18 09:00")),
        ],
        0.0,
    )
    return store, conf


def test_the_hand_worked_month_in_html_pdf_and_csv(november: tuple[st.Store, cfg.Config]) -> None:
    store, conf = november
    figures = month_figures(store.reader(), conf.zones, 2025, 11, BOGOTA, now=t("2026-01-01 00:00"))
    a = {z.zone.id: z.availability for z in figures.zones}["ZD-07"]
    assert a.operating_seconds == 205 * 3600 and a.downtime_seconds == 3 * 3600 and a.sla_met is True
    html = render(figures, lang="es", header=Header())
    zones = Cells()
    zones.feed(html)
    # zone, barrio, availability, SLA, downtime (min), incidents
    expected = ["ZD-07 Biblioteca Balbino Carreazo", "El Pozón", "98,54 %", "cumple", "180,0", "1"]
    assert zones.rows["ZD-07"][:6] == expected
    schedules = Cells("data-schedule")
    schedules.feed(html)
    assert schedules.rows["ZD-07"] == [
        "ZD-07", "lun-vie 07:00-12:00, 14:00-19:00; sáb 08:00-13:00; dom cerrado; festivos cerrado", "205,00",
    ]  # fmt: skip
    assert schedules.rows["ZD-01"] == ["ZD-01", "todos los días 06:00-22:00 (festivos incluidos)", "480,00"]
    days = Cells("data-day")
    days.feed(html.replace("<li ", "<tr ").replace("</li>", "</tr>"))
    text = " | ".join(days.text)
    assert "2025-11-03: festivo — Día de Todos los Santos (observado)" in text
    assert "2025-11-17: festivo — Independencia de Cartagena (observado)" in text
    pdf = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(html_to_pdf(html))).pages)
    assert "98,54 %" in pdf and "205,00" in pdf and "Independencia de Cartagena (observado)" in pdf
    rows = {r["CODIGO_ZONA"]: r for r in csv.DictReader(io.StringIO(csv_bytes(figures).decode()))}
    assert rows["ZD-07"]["DISPONIBILIDAD_PCT"] == "98.54"
    # Frozen and read back, the month keeps its schedule words and its calendar.
    again = thaw(_freeze(figures))
    assert again.calendar == figures.calendar and len(again.calendar) == 2
    assert again.zones[0].zone.plan == figures.zones[0].zone.plan
    en = Cells("data-schedule")
    en.feed(render(again, lang="en", header=Header()))
    assert en.rows["ZD-07"][1] == "Mon-Fri 07:00-12:00, 14:00-19:00; Sat 08:00-13:00; Sun closed; holidays closed"
    store.close()
