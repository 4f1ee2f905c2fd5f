"""The data-centre optimisation and digital-security reports of a synthetic month with known
figures, closed through `vigia report month`: every figure and verdict asserted in the parsed HTML
(es and en) and in the PDF text; the files in the month's folder and its manifest."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from domain import findings as fd
from domain.state import State, Transition
from probes.result import ProbeResult, Series
from store import db as st
from store import schema
from tests.reports.test_monthly_report import Cells

BOGOTA_OFFSET = timedelta(hours=5)
START = datetime(2025, 1, 1, tzinfo=UTC) + BOGOTA_OFFSET  # 1 January 00:00 in Bogotá
END = datetime(2025, 2, 1, tzinfo=UTC) + BOGOTA_OFFSET
HOURS = 31 * 24


def local(text: str) -> float:
    """A Bogotá wall-clock time as Unix seconds."""
    return (datetime.fromisoformat(text).replace(tzinfo=UTC) + BOGOTA_OFFSET).timestamp()


def parsed(path: Path) -> Cells:
    p = Cells(key=None)
    p.feed(path.read_text(encoding="utf-8"))
    assert p.scripts == 0
    return p


def pdf_text(path: Path) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages)


CONFIG = """
instance: cdc
timezone: America/Bogota
reports: {{languages: [es, en], formats: [html, pdf]}}
store: {{url_file: {url}}}
state_dir: {state}
targets:
  - {{id: app-idle, probe: node, node: {{url: "http://127.0.0.1:9/metrics"}}}}
  - {{id: db-busy, probe: node, node: {{url: "http://127.0.0.1:9/metrics"}}}}
  - {{id: files, probe: host}}
  - {{id: web, probe: http, http: {{url: "http://127.0.0.1:9/"}}}}
  - {{id: dns-int, probe: dns, dns: {{server: 127.0.0.1, name: intranet.test}}}}
  - {{id: web-tls, probe: tls, group: seguridad, tls: {{host: 127.0.0.1, port: 9}}}}
datacenter:
  hosts:
    app-idle: {{vcpus: 8, memory: 32GiB, link: 100Mbit, role: aplicaciones}}
  rules: {{availability_target: 0.998}}
"""


def _month_of_hosts(store: st.Store) -> None:
    batch = []
    mount = (("device", "/dev/sda1"), ("fstype", "ext4"), ("mountpoint", "/"))
    for hour in range(HOURS):
        at = START + timedelta(hours=hour)
        day = hour // 24
        octets = float(hour) * 450e6  # 450 MB an hour received: 1 Mbit/s
        batch += [
            ProbeResult("app-idle", "node", at, 0.1, True,
                        values={"cpu_utilisation_ratio": 0.02 + 0.04 * (hour % 2), "memory_utilisation_ratio": 0.20,
                                "cpus": 8.0, "memory_total_bytes": 32 * 2.0**30},
                        series=(Series("network_receive_bytes_total", (("device", "eth0"),), octets),
                                Series("network_transmit_bytes_total", (("device", "eth0"),), 0.0))),
            ProbeResult("db-busy", "node", at, 0.1, True,
                        values={"cpu_utilisation_ratio": 0.85 + 0.10 * (hour % 2), "memory_utilisation_ratio": 0.60,
                                "cpus": 16.0, "memory_total_bytes": 64 * 2.0**30}),
            ProbeResult("files", "host", at, 0.1, True,
                        values={"cpu_utilisation_ratio": 0.40, "memory_utilisation_ratio": 0.50},
                        series=(Series("filesystem_utilisation_ratio", mount, 0.50 + 0.01 * day),
                                Series("filesystem_size_bytes", mount, 100e9))),
            ProbeResult("web", "http", at, 0.2, True),
            ProbeResult("dns-int", "dns", at, 0.01, True),
        ]  # fmt: skip
    down_at = datetime.fromtimestamp(local("2025-01-10 12:00"), UTC)
    up_at = down_at + timedelta(hours=2)
    changes = [
        st.StateChange.of(Transition("web", down_at, State.UP, State.DOWN, "refused", "x", down_at)),
        st.StateChange.of(Transition("web", up_at, State.DOWN, State.UP, "", "")),
    ]
    store.write_cycle(batch, changes, 0.0)
    with store.engine.begin() as conn:  # vigia ran the whole month
        conn.execute(
            schema.daemon_runs.insert().values(
                instance="cdc", host="cdc", version="t", started_at=START.timestamp() - 3600,
                last_seen=END.timestamp() + 3600,
            )
        )  # fmt: skip


def _finding(kind: str, asset: str, detail: str, severity: str, first: str, resolved: str | None) -> fd.Finding:
    ft = fd.CATALOGUE[kind]
    first_ts = local(first)
    resolved_ts = local(resolved) if resolved else None
    return fd.Finding(
        fd.finding_id(kind, asset, detail), kind, asset, detail, severity, ft.control, ft.mspi, f"evidence of {asset}",
        first_ts, resolved_ts or local("2025-01-31 23:00"), fd.RESOLVED if resolved else fd.OPEN, resolved_ts,
    )  # fmt: skip


FINDINGS = [
    _finding("tls_certificate_expiry", "web-tls", "", "alta", "2024-12-20 08:00", None),
    _finding("port_not_allowed", "db-busy", "8080", "alta", "2025-01-05 10:00", "2025-01-08 10:00"),
    _finding("http_header_missing", "portal", "content-security-policy", "baja", "2025-01-15 09:00", None),
    _finding("spf_missing", "cartagena.gov.co.test", "", "media", "2024-11-01 00:00", "2025-01-21 00:00"),
    _finding("drill_failed", "d-erp", "", "alta", "2025-01-25 02:00", None),
    _finding("banner_version", "ssh", "", "baja", "2024-12-01 00:00", "2024-12-15 00:00"),
]


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store filled and both months closed once for the module (the last test changes the store)."""
    from monitor.cli import main

    tmp_path = tmp_path_factory.mktemp("dcsec")
    url = f"sqlite:///{tmp_path}/vigia.db"
    store = st.Store(url, "cdc")
    store.migrate()
    _month_of_hosts(store)
    store.write_cycle([], [], 0.0, findings=FINDINGS)
    store.close()
    (tmp_path / "url").write_text(url)
    (tmp_path / "c.yml").write_text(CONFIG.format(url=tmp_path / "url", state=tmp_path / "state"))
    out = tmp_path / "out"
    for month in ("2024-12", "2025-01"):  # December first: January's trend starts there
        args = ["report", "month", "--config", str(tmp_path / "c.yml"), "--month", month, "--output-dir", str(out)]
        assert main(args) == 0
    return out / "2025-01"


def test_datacenter_report_figures_verdicts_and_recommendations(closed: Path) -> None:
    es = parsed(closed / "centro-datos-2025-01.es.html")
    text = " | ".join(es.text)
    assert "Informe de optimización de recursos tecnológicos del centro de datos del distrito" in text
    # Host, role, CPU mean/p95/max, memory mean/p95/max, network p95/max Mbit/s, link p95, availability,
    # samples, verdict
    assert es.rows["app-idle"] == [
        "app-idle", "aplicaciones", "4,0 %", "6,0 %", "6,0 %", "20,0 %", "20,0 %", "20,0 %", "1,0", "1,0", "1,0 %",
        "100,000 %", "744", "subutilizado (candidato a consolidación)",
    ]  # fmt: skip
    assert es.rows["db-busy"][2:5] == ["90,0 %", "95,0 %", "95,0 %"]
    assert es.rows["db-busy"][-1] == "saturado"
    assert es.rows["files"][-1] == "sistema de archivos llenándose: /"
    # Capacity: inventory for app-idle, node data for db-busy (vCPUs in use = vCPUs x CPU p95).
    assert es.rows["cap:app-idle"] == ["app-idle", "8", "0,5", "32,0", "6,4", "—", "100"]
    assert es.rows["cap:db-busy"] == ["db-busy", "16", "15,2", "64,0", "38,4", "—", "—"]
    # "/" fills from 50 % by one point a day over 31 days: mean 65 %, p95 (nearest rank) 79 %, max 80 %.
    assert es.rows["files:/"] == ["files", "/", "100,0", "65,0 %", "79,0 %", "80,0 %", "1,00", "20"]
    # web was down 2 hours of 744: 99.731 %; 120 min; one incident; response p95 200 ms.
    assert es.rows["web"] == ["web", "http", "99,731 %", "120,0", "1", "120,0", "200,0", "100,0 %"]
    assert es.rows["dns-int"][2] == "100,000 %"
    recs = {k.removeprefix("rec:"): v for k, v in es.rows.items() if k.startswith("rec:")}
    assert set(recs) == {"consolidate:app-idle", "expand:db-busy", "filesystem:files", "redundancy:web"}
    assert recs["consolidate:app-idle"][:2] == ["app-idle", "A.8.6"]
    assert recs["consolidate:app-idle"][2].startswith(
        "Candidato a consolidación: CPU p95 6,0 % (regla < 10 %) y memoria p95 20,0 % (regla < 30 %)"
    )
    assert (
        "llegó a 80,0 % y crece 1,00 puntos por día: se llenará en 20 días (regla: 90 días)"
        in recs["filesystem:files"][2]
    )
    assert recs["redundancy:web"][1] == "A.8.14"
    assert (
        "Disponibilidad 99,731 % por debajo de la meta 99,8 % (120,0 min caído, 1 incidentes)"
        in recs["redundancy:web"][2]
    )
    # Trend: December was closed first (no data then), January follows.
    # (December: vigia's run began on its last hour, services up; no host samples.)
    assert es.rows["2024-12"] == ["2024-12", "3", "—", "—", "100,000 %", "0"]
    assert es.rows["2025-01"] == ["2025-01", "3", "47,0 %", "43,3 %", "99,866 %", "4"]
    en = parsed(closed / "centro-datos-2025-01.en.html")
    assert en.rows["app-idle"][2:5] == ["4.0%", "6.0%", "6.0%"]
    assert en.rows["app-idle"][-1] == "underused (consolidation candidate)"
    assert "Data-centre resource optimisation report" in " ".join(en.text)
    pdf = " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO((closed / "centro-datos-2025-01.es.pdf").read_bytes())).pages
    )
    for needle in ("99,731 %", "Candidato a consolidación", "15,2", "A.8.14"):
        assert needle in pdf, needle
    pdf_en = " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO((closed / "centro-datos-2025-01.en.pdf").read_bytes())).pages
    )
    assert "99.731%" in pdf_en and "Consolidation candidate" in pdf_en


def test_security_report_summary_trend_remediation_controls_and_evidence(closed: Path) -> None:
    es = parsed(closed / "seguridad-2025-01.es.html")
    text = " | ".join(es.text)
    assert "Informe de estrategias para el fortalecimiento de la seguridad digital de la entidad" in text
    # Severity: open at month end, new, resolved
    assert es.rows["alta"] == ["alta", "2", "2", "1"]
    assert es.rows["media"] == ["media", "0", "0", "1"]
    assert es.rows["baja"] == ["baja", "1", "1", "0"]
    assert es.rows["total"] == ["Total", "3", "3", "2"]
    # Trend of open findings at each month's end (alta, media, baja)
    assert es.rows["2024-11"] == ["2024-11", "0", "1", "0"]
    assert es.rows["2024-12"] == ["2024-12", "1", "1", "0"]
    assert es.rows["2025-01"][1:] == ["2", "0", "1"]
    # Remediated this month: 3 days (port) and 81 days (SPF)
    assert (
        "Hallazgos resueltos en el mes | 2 | Promedio (días) | 42,0 | Mediana (días) | 42,0 | Máximo (días) | 81,0"
        in text
    )
    assert list(k for k in es.rows if k in ("d-erp", "web-tls", "portal")) == ["d-erp", "web-tls", "portal"]
    assert es.rows["d-erp"] == ["d-erp", "1", "1", "0", "0"]
    assert es.rows["A.8.20"] == ["A.8.20", "Seguridad de redes", "Seguridad de las comunicaciones", "0", "1", "1"]
    assert es.rows["A.8.24"] == ["A.8.24", "Uso de criptografía", "Criptografía", "1", "0", "0"]
    assert es.rows["A.5.14"][3:] == ["0", "0", "1"]
    assert es.rows["A.5.30"][3:] == ["1", "1", "0"]
    assert "A.8.9" not in es.rows  # December's banner finding was resolved before January
    # Strategies from the open findings, gravest first.
    html = (closed / "seguridad-2025-01.es.html").read_text()
    order = [html.index(f'data-kind="{k}"') for k in ("drill_failed", "tls_certificate_expiry", "http_header_missing")]
    assert order == sorted(order)
    assert fd.CATALOGUE["drill_failed"].strategy["es"] in html
    # Evidence appendix: every finding open at month end or touched in it, with its id and dates.
    ids = {f.id: f for f in FINDINGS}
    shown = {k for k in es.rows if k in ids}
    assert shown == {f.id for f in FINDINGS if f.asset != "ssh"}
    port = ids[fd.finding_id("port_not_allowed", "db-busy", "8080")]
    assert es.rows[port.id][2:7] == ["db-busy", "alta", "A.8.20", "resuelta", "2025-01-05 10:00"]
    assert es.rows[port.id][8] == "2025-01-08 10:00"
    en = parsed(closed / "seguridad-2025-01.en.html")
    assert en.rows["alta"] == ["high", "2", "2", "1"]
    assert en.rows["A.8.20"][1] == "Networks security"
    assert fd.CATALOGUE["drill_failed"].strategy["en"] in (closed / "seguridad-2025-01.en.html").read_text()
    pdf = " ".join(
        p.extract_text() for p in PdfReader(io.BytesIO((closed / "seguridad-2025-01.es.pdf").read_bytes())).pages
    )
    for needle in ("Resumen por severidad", "42,0", "Uso de criptografía"):
        assert needle in pdf, needle
    assert port.id in "".join(pdf.split())  # the narrow evidence column may wrap the id


def test_month_folder_and_manifest_hold_both_reports_frozen(closed: Path) -> None:
    from monitor.cli import main

    tmp_path = closed.parent.parent
    names = sorted(p.name for p in closed.iterdir())
    for lang in ("es", "en"):
        for ext in ("html", "pdf"):
            assert f"centro-datos-2025-01.{lang}.{ext}" in names
            assert f"seguridad-2025-01.{lang}.{ext}" in names
    manifest = dict(reversed(line.split("  ")) for line in (closed / "MANIFEST.sha256").read_text().splitlines())
    for name in ("centro-datos-2025-01.es.html", "seguridad-2025-01.en.pdf"):
        assert manifest[name] == hashlib.sha256((closed / name).read_bytes()).hexdigest()
    first = (closed / "centro-datos-2025-01.es.html").read_bytes()
    # Raw results go (retention) and a finding changes later: the closed month renders its frozen figures.
    engine = sa.create_engine((tmp_path / "url").read_text())
    with engine.begin() as conn:
        conn.execute(schema.results.delete())
        conn.execute(schema.findings_t.update().values(severity="baja"))
    engine.dispose()
    args = [
        "report",
        "month",
        "--config",
        str(tmp_path / "c.yml"),
        "--month",
        "2025-01",
        "--output-dir",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    assert (closed / "centro-datos-2025-01.es.html").read_bytes() == first
    assert parsed(closed / "seguridad-2025-01.es.html").rows["alta"][1] == "2"
