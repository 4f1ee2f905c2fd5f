"""The month's per-zone figures from a real store, as open data: exact, deterministic, no personal data."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import config as cfg
from domain.usage import UsageRow
from probes.usage.operator_csv import OperatorMonth
from probes.usage.radius import Usage
from reports.monthly import month_figures
from reports.opendata import COLUMNS, csv_bytes, metadata
from store import db as st
from store import schema

BOGOTA = ZoneInfo("America/Bogota")
CONFIG = """
zone_defaults: {hours: "06:00-22:00", sla_target: 0.98}
zones:
  - {id: ZD-01, name: "Plaza de la Aduana", barrio: Centro, ucg: 1, localidad: "Histórica y del Caribe Norte",
     lat: 10.42494, lon: -75.55192}
  - {id: ZD-02, name: "<script>alert(1)</script> {{7*7}}", barrio: "Getsemaní", ucg: 1,
     localidad: "Histórica y del Caribe Norte", lat: 10.42052, lon: -75.54611}
  - {id: ZD-32, name: "Zona rural sin datos", barrio: "Bayunca", localidad: "De la Virgen y Turística",
     area: rural, lat: 10.54, lon: -75.41}
"""


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BOGOTA).timestamp()


@pytest.fixture
def filled(tmp_path: Path) -> tuple[st.Store, cfg.Config]:
    (tmp_path / "c.yml").write_text(CONFIG)
    conf = cfg.parse(str(tmp_path / "c.yml"), state_dir=str(tmp_path))
    store = st.Store(f"sqlite:///{tmp_path}/vigia.db", "cdc")
    store.migrate()
    # ZD-01 and ZD-02 measured every 15 minutes all month; ZD-32 has no checks, so never measured.
    samples = [
        st.ZoneSample(z, t("2024-12-31 23:45") + k * 900, 900.0, "up", "ok", True, 0.0, 0.001, "{}")
        for z in ("ZD-01", "ZD-02")
        for k in range(32 * 96)
    ]
    store.write_cycle([], [], 0.0, samples)
    store.write_cycle(
        [],
        [
            st.StateChange("ZD-01", "up", "down", t("2025-01-10 09:00"), t("2025-01-10 08:00"), "gateway_timeout"),
            st.StateChange("ZD-01", "down", "up", t("2025-01-10 09:30"), t("2025-01-10 09:30")),
        ],
        0.0,
    )
    jan = [
        UsageRow("ZD-01", "2025-01", Usage(120, 45, 7200.0, 2e9, 3e9), 9),
        UsageRow("ZD-02", "2025-01", Usage(30, 12, 3600.0, 1e8, 2e8), 3),
    ]
    dec = [UsageRow("ZD-01", "2024-12", Usage(100, 40, 1.0, 1.0, 1.0), 5)]
    store.write_usage("radius", [], jan, 0.0)
    store.write_usage("radius", [], dec, 0.0)
    store.import_operator_months([OperatorMonth("ZD-01", 2025, 1, 18352, 1204, 310, 12, 2)], "op.csv", 0.0)
    return store, conf


def test_open_data_csv_is_exact_and_reproducible(filled: tuple[st.Store, cfg.Config]) -> None:
    store, conf = filled
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    data = csv_bytes(figures)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert tuple(rows[0]) == COLUMNS
    z1, z2, z32 = rows
    operating = 31 * 16 * 3600
    assert z1 == {
        "ANIO": "2025", "MES_NUM": "1", "MES": "ENERO", "CODIGO_ZONA": "ZD-01", "ZONA_WIFI": "Plaza de la Aduana",
        "BARRIO_CORREGIMIENTO": "Centro", "UCG": "1", "LOCALIDAD": "Histórica y del Caribe Norte",
        "USUARIOS_UNICOS": "45", "SESIONES": "120", "DISPOSITIVOS_SMARTPHONE": "18352",
        "DISPOSITIVOS_TABLET": "1204", "DISPOSITIVOS_PC": "310", "DISPOSITIVOS_OTRO": "12", "TRAFICO_GB": "5.000",
        "TIEMPO_PROMEDIO_MIN": "1.0", "DISPONIBILIDAD_PCT": f"{(operating - 5400) / operating * 100:.2f}",
        "LATITUD": "10.42494", "LONGITUD": "-75.55192", "HORAS_PROGRAMADAS": f"{31 * 16:.2f}",
        "HORAS_MEDIDAS": f"{operating / 3600:.2f}",
    }  # fmt: skip
    assert z1["DISPONIBILIDAD_PCT"] == "99.70"
    assert z2["ZONA_WIFI"] == "<script>alert(1)</script> {{7*7}}"  # data, written literally
    assert (z2["USUARIOS_UNICOS"], z2["TRAFICO_GB"], z2["DISPONIBILIDAD_PCT"]) == ("12", "0.300", "100.00")
    assert (z32["USUARIOS_UNICOS"], z32["SESIONES"], z32["UCG"], z32["DISPOSITIVOS_PC"]) == ("", "", "", "")
    assert z32["DISPONIBILIDAD_PCT"] == ""  # no data is not 100 %
    # Closing the month again gives the same bytes.
    again = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-06-01 00:00"))
    assert csv_bytes(again) == data
    z1_fig = next(z for z in figures.zones if z.zone.id == "ZD-01")
    assert z1_fig.users_change == pytest.approx(45 / 40 - 1)
    assert z1_fig.availability.incidents == 1 and z1_fig.availability.mttr_seconds == 5400
    assert figures.operating == 2 and figures.total("unique_users") == 57
    store.close()


def test_a_control_character_in_the_inventory_never_splits_a_row(filled: tuple[st.Store, cfg.Config]) -> None:
    """A CR in a barrio (from a configuration written before control characters were refused):
    Python's writer does not quote a lone CR, which split the row and began a line with =1+3."""
    store, conf = filled
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    zones = tuple(
        replace(z, zone=replace(z.zone, barrio="Centro\r=1+3", name="\x1b[31mPlaza")) if z.zone.id == "ZD-01" else z
        for z in figures.zones
    )
    data = csv_bytes(replace(figures, zones=zones))
    lines = data.decode("utf-8").split("\n")
    assert len(lines) == 1 + len(zones) + 1 and lines[-1] == ""  # header, one line per zone, final newline
    assert "\r" not in data.decode() and "\x1b" not in data.decode()
    assert not any(line.startswith(("=", "+", "-", "@")) for line in lines)
    [z1] = [r for r in csv.DictReader(io.StringIO(data.decode("utf-8"))) if r["CODIGO_ZONA"] == "ZD-01"]
    assert (z1["BARRIO_CORREGIMIENTO"], z1["ZONA_WIFI"]) == ("Centro =1+3", " [31mPlaza")
    store.close()


def test_no_personal_data_column_and_metadata(filled: tuple[st.Store, cfg.Config]) -> None:
    store, conf = filled
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    meta = json.loads(
        metadata(
            figures,
            entity="Alcaldía de Cartagena",
            contact="oai@example.gov.co",
            issued=date(2025, 2, 1),
            updated=date(2025, 2, 1),
        )
    )
    assert meta["columnas"] == list(COLUMNS)
    assert {
        "titulo",
        "descripcion",
        "entidad",
        "sector",
        "frecuencia_actualizacion",
        "cobertura_geografica",
        "idioma",
        "licencia",
        "contacto",
        "fecha_emision",
        "fecha_actualizacion",
    } <= set(meta)
    assert not any(word in " ".join(COLUMNS).lower() for word in ("mac", "usuario_nombre", "calling"))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.usage_monthly)).scalar_one() == 3
    store.close()
