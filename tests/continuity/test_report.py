"""Drill reports: the rendered HTML parsed back and every figure checked, in Spanish and English."""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

from continuity.journal import Journal
from continuity.plan import parse
from continuity.report import render_period, render_run
from continuity.runner import Runner
from monitor.cli import main
from tests.conftest import free_port


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.scripts += tag == "script"

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.chunks.append(" ".join(data.split()))


def text_of(html: str) -> tuple[str, int]:
    p = Text()
    p.feed(html)
    return " | ".join(p.chunks), p.scripts


PLAN = f"""version: r1
title: Plan de continuidad
entity: Alcaldía de Prueba
services:
  - {{id: web, name: Portal <b>web</b>, rto: 1s, rpo: 1h, mtd: 1h}}
drills:
  - id: caida
    service: web
    kind: restart
    exercise: functional
    objective: "Recuperar el portal <script>alert(1)</script>"
    participants: [Ana, Luis]
    success_criteria: [Responde antes de 30 s]
    schedule: {{cron: "0 3 * * *", timezone: America/Bogota}}
    max_duration: 1m
    verify_poll: 100ms
    method: [{{type: wait, name: Interrupción, duration: 10ms}}]
    verify: [{{type: probe, name: Portal responde, probe: tcp, timeout: 1s,
              settings: {{host: 127.0.0.1, port: {free_port()}}}}}]
    rollback: [{{type: wait, name: Restaurar, duration: 10ms}}]
"""


def test_run_report_in_spanish_and_english(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(PLAN.replace("max_duration: 1m", "max_duration: 2s"))
    plan = parse(str(tmp_path / "plan.yml"))
    journal = Journal(tmp_path / "drills")
    rec = Runner(plan, journal).run("caida", operator="ana")
    assert rec.verdict == "failed"
    run = next(journal.runs())
    es, scripts = text_of(render_run(plan, run))
    assert scripts == 0, "inventory and plan text are data, never markup"
    assert "Recuperar el portal <script>alert(1)</script>" in es
    assert "Portal <b>web</b>" in es
    assert "Informe de prueba del plan de continuidad" in es
    assert "no aprobado — verify did not pass before max_duration" in es
    assert "RTO | 1 s | —" in es and "RPO | 1 h 00 min 00 s | —" in es
    assert "Ana, Luis" in es and "Alcaldía de Prueba" in es
    assert "El paso «Portal responde» (Verificación) falló:" in es
    assert "Reversión | Restaurar" in es
    assert "Aprobó" in es
    en, _ = text_of(render_run(plan, run, lang="en"))
    assert "Continuity plan test report" in en and "failed — verify did not pass" in en
    assert "Step “Portal responde” (Verify) failed:" in en


def test_period_report_counts_planned_run_missed(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(PLAN)
    plan = parse(str(tmp_path / "plan.yml"))
    journal = Journal(tmp_path / "drills")
    runner = Runner(plan, journal)
    tz = ZoneInfo("America/Bogota")
    runner.record_missed("caida", datetime(2025, 1, 5, 3, tzinfo=tz).timestamp(), "down")
    start, end = datetime(2025, 1, 1, tzinfo=tz), datetime(2025, 2, 1, tzinfo=tz)
    runs = list(journal.runs())
    runs[0]["started_at"] = "2025-01-05T08:00:00.000+00:00"
    extra = dict(runs[0], verdict="passed", run_id="x", started_at="2025-01-06T08:00:00.000+00:00")
    text, _ = text_of(render_period(plan, [*runs, extra], start, end))
    assert "Periodo: 2025-01-01 — 2025-02-01" in text
    assert "Portal <b>web</b> (web) | 31 | 1 | 1 | 1" in text


def test_cli_report(tmp_path: Path, capsys) -> None:
    (tmp_path / "plan.yml").write_text(PLAN.replace("max_duration: 1m", "max_duration: 1s"))
    (tmp_path / "c.yml").write_text(f"state_dir: {tmp_path}/state\ncontinuity: {{plan: plan.yml}}\n")
    assert main(["drill", "run", "--config", str(tmp_path / "c.yml"), "caida"]) == 3
    run_id = capsys.readouterr().out.split(" run ")[1].split(":")[0]
    out = tmp_path / "informe.html"
    assert main(["drill", "report", "--config", str(tmp_path / "c.yml"), "--run", run_id[:8], "-o", str(out)]) == 0
    assert "Informe de prueba del plan de continuidad" in out.read_text()
    assert main(["drill", "report", "--config", str(tmp_path / "c.yml"), "--month", "2025-01"]) == 0
    assert "Pruebas del plan de continuidad" in capsys.readouterr().out
