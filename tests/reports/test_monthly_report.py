"""The monthly report rendered from a real store: HTML parsed and PDF text extracted, es and en."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader

import config as cfg
from render.engine import html_to_pdf
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.page import Header
from store import db as st
from store import schema
from tests.reports.test_opendata import BOGOTA, CONFIG, filled, t

__all__ = ["filled"]


class Cells(HTMLParser):
    """Text of each table row, keyed by the row's ``key`` attribute (any data-* one if None), all text
    in order, and how many script elements there are."""

    def __init__(self, key: str | None = "data-zone") -> None:
        super().__init__()
        self.key = key
        self.rows: dict[str, list[str]] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        keys = [v for k, v in attrs if (k == self.key if self.key else k.startswith("data-")) and v]
        if tag == "tr" and keys:
            self.current = keys[0]
            self.rows[self.current] = []
        if tag == "td" and self.current:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.current and self.cell is not None:
            self.rows[self.current].append(" ".join("".join(self.cell).split()))
            self.cell = None
        if tag == "tr":
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if data.strip():
            self.text.append(" ".join(data.split()))


def test_spanish_and_english_figures_in_html_and_pdf(filled: tuple[st.Store, cfg.Config]) -> None:
    store, conf = filled
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    html = render(figures, lang="es", header=Header(code="GTIC-F-017"), generated=datetime(2025, 2, 1, tzinfo=UTC))
    p = Cells()
    p.feed(html)
    assert p.scripts == 0
    # the map and the charts are drawn, not printed as their SVG source (they once were, escaped)
    assert html.count("<figure><svg") == 3 and "&lt;svg" not in html
    text = " | ".join(p.text)
    assert "Informe mensual de indicadores de uso y apropiación de TIC — Zonas Digitales" in text
    assert "enero de 2025" in text and "GTIC-F-017" in text
    assert p.rows["ZD-01"][:9] == [
        "ZD-01 Plaza de la Aduana",
        "Centro",
        "99,70 %",
        "cumple",
        "90,0",
        "1",
        "90,0",
        "45",
        "120",
    ]
    assert p.rows["ZD-02"][0] == "ZD-02 <script>alert(1)</script> {{7*7}}"  # literal, not markup, not evaluated
    assert p.rows["ZD-32"][2:4] == ["—", "—"]  # no data: no availability, no SLA verdict
    assert "Zonas en operación | 2/3" in text
    assert "no programado" in text and "gateway_timeout" in text
    usage = Cells()
    usage.feed(html.replace("data-usage", "data-zone"))
    assert usage.rows["ZD-01"][:2] == ["ZD-01", "45"]  # the usage table's row (the zone table's comes first)
    assert "12,5 %" in " ".join(p.text)  # users change vs December: 45 / 40 - 1
    assert "18.352" in " ".join(p.text)  # smartphones from the operator's CSV
    # Zones that share a schedule, or their usage sources, share one row that names them.
    schedules = Cells("data-schedule")
    schedules.feed(html)
    every_day = "todos los días 06:00-22:00 (festivos incluidos)"
    assert schedules.rows == {"ZD-01 ZD-02 ZD-32": ["todas las zonas (3)", every_day, "496,00"]}
    sources = Cells("data-sources")
    sources.feed(html)
    assert list(sources.rows.values()) == [["ZD-01", "radius, operador"], ["ZD-02", "radius"], ["ZD-32", "—"]]
    isp = render(figures, lang="es", header=Header(), incident_classes={"gateway_timeout": "isp"})
    assert "proveedor de internet" in isp
    pdf = PdfReader(io.BytesIO(html_to_pdf(html)))
    pdf_text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Zonas Digitales" in pdf_text and "99,70 %" in pdf_text and "enero de 2025" in pdf_text
    assert "xmlns" not in pdf_text and "<svg" not in pdf_text
    en = render(figures, lang="en", header=Header(), generated=datetime(2025, 2, 1, tzinfo=UTC))
    q = Cells()
    q.feed(en)
    assert "Monthly report of use and appropriation of ICT — Zonas Digitales" in " ".join(q.text)
    assert q.rows["ZD-01"][2:4] == ["99.70%", "met"] and "January 2025" in " ".join(q.text)
    schedules = Cells("data-schedule")
    schedules.feed(en)
    assert schedules.rows["ZD-01 ZD-02 ZD-32"][0] == "all 3 zones"
    store.close()


def test_month_without_data_says_so(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(CONFIG)
    conf = cfg.parse(str(tmp_path / "c.yml"), state_dir=str(tmp_path))
    store = st.Store(f"sqlite:///{tmp_path}/empty.db", "cdc")
    store.migrate()
    figures = month_figures(store.reader(), conf.zones, 2024, 6, BOGOTA, now=t("2025-03-01 00:00"))
    html = render(figures, lang="es", header=Header())
    assert "Sin datos: vigia no midió ninguna zona en este mes." in html
    assert "Sin incidentes." in html
    store.close()


def test_cli_writes_every_format(filled: tuple[st.Store, cfg.Config], tmp_path: Path, capsys) -> None:
    from monitor.cli import main

    store, _ = filled
    url = str(store.engine.url)
    store.close()
    (tmp_path / "url").write_text(url)
    (tmp_path / "r.yml").write_text(
        CONFIG + f"instance: cdc\nstore: {{url_file: {tmp_path / 'url'}}}\nstate_dir: {tmp_path}\n"
        "reports: {languages: [es, en], contact: oai@example.gov.co}\n"
    )
    assert (
        main(
            [
                "report",
                "month",
                "--config",
                str(tmp_path / "r.yml"),
                "--month",
                "2025-01",
                "--output-dir",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    written = capsys.readouterr().out.split()
    names = sorted(Path(w).name for w in written if not w.endswith("MANIFEST.sha256"))
    assert names == [
        "caidas-2025-01.csv",
        "centro-datos-2025-01.en.html",
        "centro-datos-2025-01.en.pdf",
        "centro-datos-2025-01.es.html",
        "centro-datos-2025-01.es.pdf",
        "seguridad-2025-01.en.html",
        "seguridad-2025-01.en.pdf",
        "seguridad-2025-01.es.html",
        "seguridad-2025-01.es.pdf",
        "zonas-digitales-2025-01.csv",
        "zonas-digitales-2025-01.en.html",
        "zonas-digitales-2025-01.en.pdf",
        "zonas-digitales-2025-01.es.html",
        "zonas-digitales-2025-01.es.pdf",
        "zonas-digitales-2025-01.metadata.json",
    ]
    month_dir = tmp_path / "out" / "2025-01"
    assert (month_dir / "zonas-digitales-2025-01.es.pdf").read_bytes().startswith(b"%PDF")
    trend = Cells()
    trend.feed((month_dir / "zonas-digitales-2025-01.es.html").read_text())
    joined = " | ".join(trend.text)
    assert "Tendencias, últimos 12 meses" in joined
    assert "2024-12 | — | 40 | 100" in joined  # December: RADIUS figures, no measured availability
    import hashlib

    manifest = (month_dir / "MANIFEST.sha256").read_text().splitlines()
    assert len(manifest) == 15
    for line in manifest:
        digest, name = line.split("  ")
        assert hashlib.sha256((month_dir / name).read_bytes()).hexdigest() == digest
    first_csv = (month_dir / "zonas-digitales-2025-01.csv").read_bytes()
    # Raw data goes (retention); closing the month again renders the frozen snapshot: same bytes.
    engine = __import__("sqlalchemy").create_engine(url)
    with engine.begin() as conn:
        conn.execute(schema.zone_samples_t.delete())
        conn.execute(schema.outages.delete())
    engine.dispose()
    assert (
        main(
            [
                "report",
                "month",
                "--config",
                str(tmp_path / "r.yml"),
                "--month",
                "2025-01",
                "--format",
                "csv",
                "--output-dir",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert (month_dir / "zonas-digitales-2025-01.csv").read_bytes() == first_csv
    now = datetime.now(UTC)
    assert main(["report", "month", "--config", str(tmp_path / "r.yml"), "--month", f"{now.year}-{now.month:02d}"]) == 2


def test_month_close_job_runs_through_the_real_scheduler(tmp_path: Path) -> None:
    from datetime import timedelta

    from monitor.daemon import Daemon

    (tmp_path / "c.yml").write_text(CONFIG + f"state_dir: {tmp_path}/state\nreports: {{formats: [csv, html]}}\n")
    daemon = Daemon(str(tmp_path / "c.yml"), listen="127.0.0.1:0")
    daemon.store.migrate()
    daemon.scheduler.start()
    try:
        job = daemon.scheduler.add_job(
            daemon.month_jobs.close_previous, "date", run_date=datetime.now(UTC) + timedelta(milliseconds=300)
        )
        assert job is not None
        for _ in range(600):  # the child process renders the report; bounded wait
            if daemon.stats.month_close_ok_at or daemon.stats.month_close_errors:
                break
            __import__("time").sleep(0.1)
    finally:
        daemon.scheduler.shutdown(wait=True)
        daemon.runtime.close()  # gives this test process's collector back its thresholds
        daemon.store.close()
    assert daemon.stats.month_close_errors == 0 and daemon.stats.month_close_ok_at > 0
    now = datetime.now(UTC).astimezone(BOGOTA)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    folder = tmp_path / "state" / "reports" / f"{year:04d}-{month:02d}"
    assert (folder / "MANIFEST.sha256").exists()
    assert (folder / f"zonas-digitales-{year:04d}-{month:02d}.es.html").exists()
    assert "Sin datos" in (folder / f"zonas-digitales-{year:04d}-{month:02d}.es.html").read_text()


def test_plan_index_links_the_evidence(filled: tuple[st.Store, cfg.Config], tmp_path: Path, capsys) -> None:
    from monitor.cli import main

    store, _ = filled
    (tmp_path / "url").write_text(str(store.engine.url))
    store.close()
    (tmp_path / "r.yml").write_text(
        CONFIG + f"instance: cdc\nstore: {{url_file: {tmp_path / 'url'}}}\nstate_dir: {tmp_path}\n"
        "action_plan:\n"
        "  - {activity: Zonas implementadas, product: 32 zonas, target: 32, responsible: Jefe OAI, evidence: zones}\n"
        "  - {activity: Informes mensuales, product: Informes, target: 12, evidence: monthly_reports}\n"
        "  - {activity: Plan probado, product: Servicios probados, target: 1, evidence: continuity_tests}\n"
        "  - {activity: Seguridad digital, product: Informe, target: 1, evidence: security_report}\n"
        f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n"
    )
    (tmp_path / "plan.yml").write_text(
        "version: p1\nservices:\n  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}\ndrills:\n"
        "  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: x, max_duration: 10m,\n"
        "     schedule: {cron: '0 3 1 * *'}}\n"
    )
    assert main(["report", "month", "--config", str(tmp_path / "r.yml"), "--month", "2025-01"]) == 0
    capsys.readouterr()
    # A security report written into the month's folder (by the report issue #6 adds) is found and linked.
    (tmp_path / "reports" / "2025-01" / "seguridad-2025-01.es.pdf").write_bytes(b"%PDF-1.7")
    assert main(["report", "plan", "--config", str(tmp_path / "r.yml"), "--year", "2025"]) == 0
    page = Path(capsys.readouterr().out.split()[0])
    p = Cells()
    p.feed(page.read_text())
    text = " | ".join(p.text)
    assert "Plan de acción: evidencias 2025" in text
    assert "Zonas implementadas | 32 zonas | 32 | 2 | 6 % | Jefe OAI | 2025-01" in text
    assert "Informes mensuales | Informes | 12 | 1 | 8 % | 2025-01" in text  # no responsible: empty cell
    assert "Plan probado | Servicios probados | 1 | 0 | 0 %" in text
    assert 'href="2025-01/zonas-digitales-2025-01.es.pdf"' in page.read_text()
    assert 'href="2025-01/simulacros-2025-01.es.html"' in page.read_text()
    assert "Seguridad digital | Informe | 1 | 1 | 100 % | 2025-01" in text
    assert 'href="2025-01/seguridad-2025-01.es.pdf"' in page.read_text()
    drills = (tmp_path / "reports" / "2025-01" / "simulacros-2025-01.es.html").read_text()
    assert "Pruebas del plan de continuidad" in drills
    assert "simulacros-2025-01.es.html" in (tmp_path / "reports" / "2025-01" / "MANIFEST.sha256").read_text()


def test_pdf_renderer_fetches_nothing_but_bundled_assets(tmp_path: Path) -> None:
    from tests.servers import http_server

    secret = tmp_path / "secreto.txt"
    secret.write_text("no debe aparecer")
    with http_server({"/x.png": lambda h: (200, {"Content-Type": "image/png"}, b"\x89PNG")}) as srv:
        html = (
            f'<html><body><p>hola</p><img src="{srv.url("/x.png")}">'
            f'<link rel="stylesheet" href="file://{secret}"><img src="file:///etc/passwd"></body></html>'
        )
        pdf = html_to_pdf(html)
        assert srv.seen == []  # no request left the renderer
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "hola" in text and "no debe aparecer" not in text
