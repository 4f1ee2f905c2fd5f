"""Use counted wherever it is known: a month with the operator's device counts and nothing else
(no RADIUS, no probing, as the district's own August 2025 file) shows its zones in use in the
monthly report's summary and in the action-plan index, naming the source."""

from __future__ import annotations

from pathlib import Path

import pytest

import config as cfg
from domain.usage import ZoneUsage
from monitor.cli import main
from probes.usage.operator_csv import OperatorMonth
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.page import Header
from store import db as st
from tests.reports.test_monthly_report import Cells
from tests.reports.test_opendata import BOGOTA, CONFIG, t


@pytest.fixture
def operator_only(tmp_path: Path) -> tuple[st.Store, cfg.Config]:
    (tmp_path / "c.yml").write_text(CONFIG)
    conf = cfg.parse(str(tmp_path / "c.yml"), state_dir=str(tmp_path))
    store = st.Store(f"sqlite:///{tmp_path}/vigia.db", "cdc")
    store.migrate()
    rows = [OperatorMonth("ZD-01", 2025, 8, 18352, 1204, 310, 12, 2), OperatorMonth("ZD-32", 2025, 8, 700, 3, 1, 5, 3)]
    store.import_operator_months(rows, "dispositivos-2025-08.csv", 0.0)
    return store, conf


def test_in_use_by_names_every_source() -> None:
    assert ZoneUsage().in_use_by() == []
    assert ZoneUsage(unique_users=0, sessions=0, devices={"smartphone": 0}).in_use_by() == []
    assert ZoneUsage(sessions=3).in_use_by() == ["radius"]
    assert ZoneUsage(peak_clients=4).in_use_by() == ["trafico"]
    assert ZoneUsage(input_octets=1e6, devices={"pc": 2}).in_use_by() == ["trafico", "operador"]


def test_the_summary_counts_the_operators_devices(operator_only: tuple[st.Store, cfg.Config]) -> None:
    store, conf = operator_only
    figures = month_figures(store.reader(), conf.zones, 2025, 8, BOGOTA, now=t("2025-09-01 00:00"))
    assert figures.in_use == {"zones": 2, "operador": 2} and figures.devices == 18352 + 1204 + 310 + 12 + 709
    page = Cells("id")
    page.feed(render(figures, lang="es", header=Header()))
    assert page.rows["in-use"] == ["Zonas en uso (cualquier fuente de uso)", "2/3 (operador 2)"]
    assert page.rows["devices"] == ["Dispositivos reportados por el operador", "20.587"]
    store.close()


def test_the_plan_index_counts_zones_in_use(
    operator_only: tuple[st.Store, cfg.Config], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = operator_only
    (tmp_path / "url").write_text(str(store.engine.url))
    store.close()
    (tmp_path / "r.yml").write_text(
        CONFIG + f"instance: cdc\nstore: {{url_file: {tmp_path / 'url'}}}\nstate_dir: {tmp_path}\n"
        "reports: {formats: [html, csv]}\n"
        "action_plan:\n"
        "  - {activity: Zonas en funcionamiento, product: 3 zonas, target: 3, evidence: zones}\n"
    )
    assert main(["report", "month", "--config", str(tmp_path / "r.yml"), "--month", "2025-08"]) == 0
    assert main(["report", "plan", "--config", str(tmp_path / "r.yml"), "--year", "2025"]) == 0
    page = Path(capsys.readouterr().out.split()[-1])
    text = " | ".join(_text(page))
    assert "Zonas en funcionamiento | 3 zonas | 3 | 2 | 67 %" in text
    assert "Con disponibilidad medida: 0; en uso: RADIUS 0 · tráfico 0 · operador 2" in text


def _text(page: Path) -> list[str]:
    cells = Cells()
    cells.feed(page.read_text())
    return cells.text
