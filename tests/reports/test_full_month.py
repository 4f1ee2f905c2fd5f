"""A full synthetic month with known answers: 1-minute samples for 32 zones, usage from every source,
maintenance, operating hours, a no-data gap and an outage across the month boundary (America/Bogota).
Every zone's figures are asserted exactly in the CSV (parsed back), the HTML (parsed) and the PDF
(text extracted), in Spanish and English."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

import config as cfg
from domain.usage import UsageRow
from probes.usage.operator_csv import OperatorMonth
from probes.usage.radius import Usage
from render.engine import html_to_pdf
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.opendata import csv_bytes
from reports.page import Header
from store import db as st
from tests.reports.test_monthly_report import Cells
from tests.reports.test_opendata import BOGOTA, t

HOUR, OPERATING = 3600, 31 * 16 * 3600  # 06:00-22:00 every day of January


def expected_seconds(k: int) -> tuple[int, int]:
    """(measured, downtime) of zone k, worked out from how the month below is built."""
    measured = OPERATING - (2 * HOUR if k == 3 else 0) - (3 * HOUR if k == 5 else 0)
    downtime = k * 600 + (HOUR if k == 7 else 0)  # zone 7's outage from 31 Dec reaches 07:00 on 1 Jan
    return measured, downtime


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[st.Store, cfg.Config, Path]:
    tmp = tmp_path_factory.mktemp("month")
    zones = "\n".join(
        f"  - {{id: ZD-{k + 1:02d}, name: Zona {k + 1}, barrio: Barrio {k % 5}, ucg: {k % 15 + 1}, "
        f"localidad: Localidad {k % 3}, lat: {10.30 + k * 0.005:.5f}, lon: {-75.50 - k * 0.004:.5f}}}"
        for k in range(32)
    )
    (tmp / "c.yml").write_text(f"zone_defaults: {{hours: '06:00-22:00', sla_target: 0.98}}\nzones:\n{zones}\n")
    conf = cfg.parse(str(tmp / "c.yml"), state_dir=str(tmp))
    db = tmp / "vigia.db"
    store = st.Store(f"sqlite:///{db}", "cdc")
    store.migrate()
    start, end = t("2025-01-01 00:00"), t("2025-02-01 00:00")
    gap = (t("2025-01-20 10:00"), t("2025-01-20 13:00"))  # zone 5: vigia measured nothing for 3 h
    rows = []
    for k in range(32):
        zone = f"ZD-{k + 1:02d}"
        ts = start
        while ts < end:
            if not (k == 5 and gap[0] <= ts < gap[1]):
                rows.append(("cdc", zone, ts, 60.0, "up", "ok", 1, 0.0, 0.002, "{}"))
            ts += 60
    with sqlite3.connect(db) as conn:  # 1.4 million rows: the stdlib driver is the quick way in
        conn.executemany(
            "insert into zone_samples (instance, zone, ts, interval, status, verdict, in_hours, loss, "
            "rtt, checks) values (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    store.rebuild_spans()  # the samples went in behind the store's back: their spans are made from them
    changes = []
    for k in range(1, 32):  # zone k is down k*10 minutes on day k%28+1 from 10:00, inside hours
        day = k % 28 + 1
        a = t(f"2025-01-{day:02d} 10:00")
        changes += [
            st.StateChange(f"ZD-{k + 1:02d}", "up", "down", a, a, "gateway_timeout"),
            st.StateChange(f"ZD-{k + 1:02d}", "down", "up", a + k * 600, a + k * 600),
        ]
    # Zone 7 (ZD-08) was already down before the month began: 31 Dec 23:00 to 1 Jan 07:00.
    changes += [
        st.StateChange("ZD-08", "up", "down", t("2024-12-31 23:00"), t("2024-12-31 23:00"), "power"),
        st.StateChange("ZD-08", "down", "up", t("2025-01-01 07:00"), t("2025-01-01 07:00")),
        st.StateChange("ZD-04", "up", "maintenance", t("2025-01-12 12:00"), t("2025-01-12 12:00")),
        st.StateChange("ZD-04", "maintenance", "up", t("2025-01-12 14:00"), t("2025-01-12 14:00")),
    ]
    store.write_cycle([], sorted(changes, key=lambda c: c.at), 0.0)
    store.write_usage(
        "radius",
        [],
        [
            UsageRow(
                f"ZD-{k + 1:02d}",
                "2025-01",
                Usage(200 + 2 * k, 100 + k, (200 + 2 * k) * 600.0, 1e9 * (k + 1), 2e9 * (k + 1)),
                10 + k,
            )
            for k in range(32)
        ],
        0.0,
    )
    store.write_usage(
        "snmp",
        [UsageRow(f"ZD-{k + 1:02d}", "2025-01-15", Usage(0, 0, 0.0, 5e9, 6e9), None, 40 + k) for k in range(32)],
        [],
        0.0,
    )
    store.import_operator_months(
        [OperatorMonth(f"ZD-{k + 1:02d}", 2025, 1, 1000 + k, 10 + k, k, 1, k + 2) for k in range(32)], "op.csv", 0.0
    )
    return store, conf, tmp


def test_every_zone_exactly_in_csv_html_and_pdf(month: tuple[st.Store, cfg.Config, Path]) -> None:
    store, conf, _ = month
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    rows = {r["CODIGO_ZONA"]: r for r in csv.DictReader(io.StringIO(csv_bytes(figures).decode()))}
    html_es = render(figures, lang="es", header=Header(), generated=datetime(2025, 2, 1, tzinfo=UTC))
    html_en = render(figures, lang="en", header=Header(), generated=datetime(2025, 2, 1, tzinfo=UTC))
    es, en = Cells(), Cells()
    es.feed(html_es)
    en.feed(html_en)
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(html_to_pdf(html_es))).pages)
    for k in range(32):
        zone = f"ZD-{k + 1:02d}"
        measured, downtime = expected_seconds(k)
        avail = (measured - downtime) / measured
        z = next(x for x in figures.zones if x.zone.id == zone)
        assert (z.availability.measured_seconds, z.availability.downtime_seconds) == (measured, downtime), zone
        assert rows[zone]["DISPONIBILIDAD_PCT"] == f"{avail * 100:.2f}"
        assert rows[zone]["USUARIOS_UNICOS"] == str(100 + k) and rows[zone]["SESIONES"] == str(200 + 2 * k)
        assert rows[zone]["DISPOSITIVOS_SMARTPHONE"] == str(1000 + k)
        assert rows[zone]["TRAFICO_GB"] == f"{3 * (k + 1):.3f}" and rows[zone]["TIEMPO_PROMEDIO_MIN"] == "10.0"
        pct_es = f"{avail * 100:.2f}".replace(".", ",") + " %"
        assert es.rows[zone][2] == pct_es and en.rows[zone][2] == f"{avail * 100:.2f}%"
        assert pct_es in pdf_text
    assert rows["ZD-04"]["DISPONIBILIDAD_PCT"] == f"{(OPERATING - 7200 - 1800) / (OPERATING - 7200) * 100:.2f}"
    cov = next(x for x in figures.zones if x.zone.id == "ZD-06").availability.coverage
    assert cov == pytest.approx((OPERATING - 3 * HOUR) / OPERATING)
    assert "Zonas en operación | 32/32" in " | ".join(es.text)
    assert "enero de 2025" in pdf_text and "January 2025" in " ".join(en.text)
