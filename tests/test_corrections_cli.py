"""Corrections after the fact, as an operator makes them: `vigia outage list / exclude / annotate`
and `vigia maintenance add` over time already measured, on a store holding a month of measured
periods; what the month's figures, report and open data then say, who is named, and what is
refused (exit 2, nothing stored), a closed month above all."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import config as cfg
from monitor.cli import main
from monitor.cli.common import operator
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.opendata import metadata, outages_csv
from reports.page import Header
from store.db import Store
from store.schema_corrections import corrections_t
from tests.measured import write_cycles

TZ = ZoneInfo("America/Bogota")
MONTH = "2026-11"  # ended: the session's clock is in December 2026 or later


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ).timestamp()


# The measured month: ZD-01 down 10:00-10:07 (a power cut the utility announced, nobody entered);
# ZD-02 down 11:00-11:10 (a probe's fault) and 12:00-12:05 (a power cut).
DOWNS = {"ZD-01": [(at(10, 10), at(10, 10, 7))], "ZD-02": [(at(10, 11), at(10, 11, 10)), (at(10, 12), at(10, 12, 5))]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, cfg.Config]:
    path = tmp_path / "vigia.yml"
    path.write_text(
        f"instance: centro\nstate_dir: {tmp_path / 'state'}\ntimezone: America/Bogota\n"
        "zone_defaults: {hours: '00:00-24:00'}\nreports: {formats: [html, csv]}\n"
        "targets:\n  - {id: web, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        "zones:\n  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5, gateway: 127.0.0.1}\n"
        "  - {id: ZD-02, name: Parque, lat: 10.4, lon: -75.5, gateway: 127.0.0.1}\n"
    )  # fmt: skip
    conf = cfg.parse(str(path))
    store = Store(conf.store_url(), conf.instance)
    store.migrate()
    write_cycles(
        store, DOWNS, (at(10, 0) + m * 60 for m in range(9 * 60, 13 * 60 + 30))
    )  # one-minute cycles from 09:00 to 13:30
    store.close()
    return path, conf


def cli(path: Path, *args: str) -> int:
    return main([*args, "--config", str(path)])


def ids(path: Path, zone: str, capsys: pytest.CaptureFixture[str]) -> list[int]:
    assert cli(path, "outage", "list", "--zone", zone, "--month", MONTH) == 0
    return [int(line.split("\t")[0]) for line in capsys.readouterr().out.splitlines()]


def figures(conf: cfg.Config):  # type: ignore[no-untyped-def]
    store = Store(conf.store_url(), conf.instance)
    try:
        return month_figures(store.reader(), list(conf.zones), 2026, 11, TZ, at(30, 23))
    finally:
        store.close()


def stored_corrections(conf: cfg.Config) -> int:
    """Corrections and maintenance windows stored: what a refused command must not have added."""
    store = Store(conf.store_url(), conf.instance)
    try:
        with store.engine.connect() as conn:
            rows = int(conn.execute(sa.select(sa.func.count()).select_from(corrections_t)).scalar_one())
        return rows + len(store.windows.listed(with_cancelled=True))
    finally:
        store.close()


def test_corrections_reach_the_figures_the_report_and_the_open_data(
    setup: tuple[Path, cfg.Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, conf = setup
    assert len(ids(path, "ZD-01", capsys)) == 1
    fault, power = ids(path, "ZD-02", capsys)
    assert cli(path, "maintenance", "add", "--zones", "ZD-01", "--start", "2026-11-10 09:55", "--end",
               "2026-11-10 10:30", "--reason", "Corte anunciado por Afinia") == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "downtime now counted as planned: ZD-01 7.0 min" in said, said
    assert cli(path, "outage", "exclude", str(fault), "--reason", "Falla de la sonda <script>x</script>") == 0
    assert cli(path, "outage", "annotate", str(power), "--cause", "energia", "--text", "Corte de Afinia") == 0
    out = capsys.readouterr().out
    assert f"outage {fault} of ZD-02" in out and "(the measured period is kept)" in out
    # What the listing shows: the measured periods, each with its correction.
    assert cli(path, "outage", "list", "--zone", "ZD-02", "--month", MONTH) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"{fault}\tdown\t2026-11-10 11:00\t2026-11-10 11:10\t10.0\tgateway_timeout\tcorr-")
    assert listed[0].endswith(" exclude") and listed[1].endswith(" annotate")

    f = figures(conf)
    zones = {z.zone.id: z.availability for z in f.zones}
    assert zones["ZD-01"].downtime_seconds == 0 and zones["ZD-01"].maintenance_seconds == 7 * 60
    assert zones["ZD-02"].downtime_seconds == 5 * 60  # the excluded 10 minutes are not downtime
    rows = [(i.zone, i.classification, i.cause, round(i.seconds)) for i in f.incidents()]
    assert rows == [("ZD-01", "planned", "planned", 420), ("ZD-02", "excluded", "excluded", 600),
                    ("ZD-02", "unplanned", "energia", 300)]  # fmt: skip
    assert [c.action for c in f.corrections] == ["exclude", "annotate"]
    assert [w.reason for w in f.late_windows] == ["Corte anunciado por Afinia"]

    html = render(f, lang="es", header=Header("Alcaldía", "Oficina", "Ciudad"))
    section = html[html.index('id="corrections"') :]
    section = section[: section.index("</table>")]
    assert "Correcciones" in html and "Corte anunciado por Afinia" in section and operator() in section
    assert "&lt;script&gt;x&lt;/script&gt;" in section and "<script>x" not in html
    assert "excluida del tiempo de caída" in section and "causa asignada: corte de energía" in section.lower()
    planned = html[html.index('data-planned="ZD-01"') :].split("</tr>")[0]
    assert "Corte anunciado por Afinia" in planned and "vigia maintenance (cli-" in planned and operator() in planned
    # The PDF says the same: the section, the reasons as typed (markup shown, never run).
    from io import BytesIO

    from pypdf import PdfReader

    from render.engine import html_to_pdf

    pdf = " ".join(p.extract_text() for p in PdfReader(BytesIO(html_to_pdf(html))).pages)
    flat = re.sub(r"\s+", "", pdf)  # a table cell's text wraps where the column does
    assert "Correcciones" in pdf and "CorteanunciadoporAfinia" in flat and "<script>x</script>" in flat
    caidas = outages_csv(f).decode()
    assert re.search(r"ZD-02,2026-11-10T12:00:00-05:00,.*,energia,correccion", caidas), caidas
    assert "ZD-01" not in caidas  # planned now, not an outage
    meta = json.loads(metadata(f, entity="e", contact="c", issued=f_day(), updated=f_day()))
    listed_meta = {(c["accion"], c["zona"], c["por"]) for c in meta["correcciones"]}
    assert listed_meta == {("excluir", "ZD-02", operator()), ("anotar", "ZD-02", operator()),
                           ("mantenimiento_posterior", "ZD-01", operator())}  # fmt: skip


def f_day():  # type: ignore[no-untyped-def]
    from datetime import date

    return date(2026, 12, 1)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["outage", "exclude", "999999", "--reason", "x"], "no outage 999999"),
        (["outage", "exclude", "{fault}", "--reason", "  "], "the reason is empty"),
        (["outage", "annotate", "{fault}", "--cause", "aliens", "--text", "x"], "cause 'aliens' is not one of"),
        (["outage", "list", "--zone", "ZD-99", "--month", MONTH], "no zone or target 'ZD-99'"),
        (["maintenance", "add", "--zones", "ZD-01", "--start", "2026-11-10 10:30", "--end", "2026-11-10 09:00",
          "--reason", "x"], "the end must be after the start"),
        (["maintenance", "add", "--zones", "ZD-01", "--start", "2026-10-01 00:00", "--end", "2026-11-20 00:00",
          "--reason", "x"], "corrects at most 31 days"),
        (["maintenance", "add", "--zones", "ZD-77", "--start", "2026-11-10 09:00", "--end", "2026-11-10 10:00",
          "--reason", "x"], "unknown zone(s) or target(s) ZD-77"),
    ],
)  # fmt: skip
def test_bad_corrections_are_refused_whole(
    setup: tuple[Path, cfg.Config], capsys: pytest.CaptureFixture[str], args: list[str], why: str
) -> None:
    path, conf = setup
    fault = ids(path, "ZD-02", capsys)[0]
    assert cli(path, *[a.replace("{fault}", str(fault)) for a in args]) == 2
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1, err
    assert stored_corrections(conf) == 0


def test_a_closed_month_is_corrected_only_with_refreeze_and_is_closed_again(
    setup: tuple[Path, cfg.Config], capsys: pytest.CaptureFixture[str]
) -> None:
    path, conf = setup
    fault = ids(path, "ZD-02", capsys)[0]
    out = Path(conf.state_dir) / "reports" / MONTH
    assert cli(path, "report", "month", "--month", MONTH) == 0
    capsys.readouterr()
    assert cli(path, "outage", "exclude", str(fault), "--reason", "Falla de la sonda") == 2
    assert f"{MONTH} is closed" in capsys.readouterr().err and stored_corrections(conf) == 0
    assert cli(path, "maintenance", "add", "--zones", "ZD-01", "--start", "2026-11-10 09:55", "--end",
               "2026-11-10 10:30", "--reason", "Corte anunciado") == 2  # fmt: skip
    assert f"{MONTH} is closed" in capsys.readouterr().err
    before = (out / "MANIFEST.sha256").read_text()
    assert cli(path, "outage", "exclude", str(fault), "--reason", "Falla de la sonda", "--refreeze") == 0
    assert f"{MONTH} closed again with the correction" in capsys.readouterr().out
    # The month's files now carry it: its figures, its report, its metadata, and so its manifest.
    meta = json.loads((out / f"zonas-digitales-{MONTH}.metadata.json").read_text())
    assert [c["motivo"] for c in meta["correcciones"]] == ["Falla de la sonda"]
    assert "Falla de la sonda" in (out / f"zonas-digitales-{MONTH}.es.html").read_text()
    after = (out / "MANIFEST.sha256").read_text()
    assert after != before and f"correcciones-{MONTH}.csv" in after and "correcciones" not in before
    fixed = (out / f"correcciones-{MONTH}.csv").read_text().splitlines()
    assert (
        fixed[0].startswith("ID,ZONA,INICIO,FIN,ACCION")
        and ",excluir,," in fixed[1]
        and "Falla de la sonda" in fixed[1]
    )


def test_a_configured_windows_occurrences_are_the_evidence_of_planned_time(tmp_path: Path) -> None:
    """A weekly configured window (Sundays 05:00, one hour) has its five November occurrences, and
    a planned period on one of them names it, its reason and the configuration as its source."""
    from domain.windows import evidence, planned_in

    path = tmp_path / "vigia.yml"
    path.write_text(
        f"state_dir: {tmp_path}\ntimezone: America/Bogota\n"
        "maintenance:\n  - {id: semanal, zones: [ZD-01], cron: '0 5 * * sun', duration: 1h, "
        "reason: Mantenimiento semanal del operador}\n"
        "zones:\n  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5, gateway: 127.0.0.1}\n"
    )  # fmt: skip
    conf = cfg.parse(str(path))
    first, after = datetime(2026, 11, 1, tzinfo=TZ).timestamp(), datetime(2026, 12, 1, tzinfo=TZ).timestamp()
    planned = planned_in(conf.maintenance, [], first, after)
    assert [datetime.fromtimestamp(p.start, TZ).day for p in planned] == [1, 8, 15, 22, 29]
    assert all(p.end - p.start == 3600 and p.added_at is None for p in planned)
    sunday = datetime(2026, 11, 15, 5, 10, tzinfo=TZ).timestamp()
    found = evidence(planned, "ZD-01", sunday, sunday + 1200)
    assert found is not None and (found.name, found.reason) == ("semanal", "Mantenimiento semanal del operador")
    assert evidence(planned, "ZD-02", sunday, sunday + 1200) is None
