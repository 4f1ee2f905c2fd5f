"""Drill reports (Spanish by default, English available): one run, or a period per service.

A standalone Jinja2 renderer (autoescape on, StrictUndefined) until the reports engine exists;
the templates take only data, so they move to that engine unchanged. Findings are derived from
the journal (failed steps, targets missed); corrective actions and approval are left as a table
and signature block to fill, because they are decisions of people, not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from continuity.plan import Plan
from domain.drills import NOT_RUN, Verdict
from kernel.cron import fire_times

TEMPLATES = Path(__file__).parent / "templates"

TEXT = {
    "es": {
        "title_run": "Informe de prueba del plan de continuidad", "title_period": "Pruebas del plan de continuidad",
        "service": "Servicio", "drill": "Simulacro", "scenario": "Escenario", "objective": "Objetivo",
        "exercise": "Tipo de ejercicio", "participants": "Participantes", "criteria": "Criterios de éxito",
        "chronology": "Cronología", "phase": "Fase", "step": "Paso", "start": "Inicio", "duration": "Duración",
        "result": "Resultado", "detail": "Detalle", "targets": "Objetivos de recuperación", "target": "Meta",
        "achieved": "Logrado", "verdict": "Veredicto", "findings": "Hallazgos", "no_findings": "Sin hallazgos.",
        "actions": "Acciones correctivas", "action": "Acción", "owner": "Responsable", "due": "Fecha límite",
        "approval": "Aprobación", "prepared": "Elaboró", "reviewed": "Revisó", "approved": "Aprobó",
        "signature": "Firma", "date": "Fecha", "trigger": "Disparo", "run": "Ejecución", "host": "Equipo",
        "operator": "Operador", "plan_version": "Versión del plan", "evidence": "Evidencia (sha256)",
        "period": "Periodo", "planned": "Programadas", "ran": "Ejecutadas", "missed": "Perdidas",
        "passed": "Aprobadas", "ok": "correcto", "failed_step": "falló",
        "verdicts": {"passed": "aprobado", "failed": "no aprobado", "aborted": "abortado",
                     "interrupted": "interrumpido", "missed": "no ejecutado", "skipped": "omitido",
                     "precondition_failed": "precondición no cumplida"},
        "phases": {"preconditions": "Precondiciones", "method": "Método", "verify": "Verificación",
                   "rollback": "Reversión", "post_verify": "Verificación posterior"},
        "finding_step": "El paso «{step}» ({phase}) falló: {detail}",
        "finding_rto": "RTO logrado {achieved} supera la meta de {target}",
        "finding_rpo": "RPO logrado {achieved} supera la meta de {target}",
        "finding_rollback": "La reversión no terminó correctamente",
    },
    "en": {
        "title_run": "Continuity plan test report", "title_period": "Continuity plan tests",
        "service": "Service", "drill": "Drill", "scenario": "Scenario", "objective": "Objective",
        "exercise": "Exercise type", "participants": "Participants", "criteria": "Success criteria",
        "chronology": "Chronology", "phase": "Phase", "step": "Step", "start": "Start", "duration": "Duration",
        "result": "Result", "detail": "Detail", "targets": "Recovery objectives", "target": "Target",
        "achieved": "Achieved", "verdict": "Verdict", "findings": "Findings", "no_findings": "No findings.",
        "actions": "Corrective actions", "action": "Action", "owner": "Owner", "due": "Due date",
        "approval": "Approval", "prepared": "Prepared by", "reviewed": "Reviewed by", "approved": "Approved by",
        "signature": "Signature", "date": "Date", "trigger": "Trigger", "run": "Run", "host": "Host",
        "operator": "Operator", "plan_version": "Plan version", "evidence": "Evidence (sha256)",
        "period": "Period", "planned": "Planned", "ran": "Run", "missed": "Missed", "passed": "Passed",
        "ok": "ok", "failed_step": "failed",
        "verdicts": {"passed": "passed", "failed": "failed", "aborted": "aborted", "interrupted": "interrupted",
                     "missed": "missed", "skipped": "skipped", "precondition_failed": "precondition failed"},
        "phases": {"preconditions": "Preconditions", "method": "Method", "verify": "Verify",
                   "rollback": "Rollback", "post_verify": "Post-verify"},
        "finding_step": "Step “{step}” ({phase}) failed: {detail}",
        "finding_rto": "RTO achieved {achieved} exceeds the target of {target}",
        "finding_rpo": "RPO achieved {achieved} exceeds the target of {target}",
        "finding_rollback": "The rollback did not complete",
    },
}  # fmt: skip


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min {s:02d} s" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dur"] = duration_text
    return env


@dataclass(frozen=True)
class PeriodRow:
    service: str
    name: str
    planned: int
    ran: int
    missed: int
    passed: int


def findings(run: dict[str, Any], text: dict[str, Any]) -> list[str]:
    out = []
    for step in run["steps"]:
        if not step["ok"]:
            out.append(
                text["finding_step"].format(
                    step=step["name"], phase=text["phases"][step["phase"]], detail=step["detail"]
                )
            )
    for key in ("rto", "rpo"):
        achieved, target = run.get(f"{key}_achieved_seconds"), run.get(f"{key}_target_seconds")
        if achieved is not None and target is not None and achieved > target:
            out.append(text[f"finding_{key}"].format(achieved=duration_text(achieved), target=duration_text(target)))
    if run.get("rollback_ok") is False:
        out.append(text["finding_rollback"])
    return out


def render_run(plan: Plan, run: dict[str, Any], *, lang: str = "es", tz: str = "America/Bogota") -> str:
    text = TEXT[lang]
    zone = ZoneInfo(tz)
    drill = plan.drills.get(run["drill"])
    service = plan.services.get(run["service"])

    def local(value: str | None) -> str:
        return "—" if not value else datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    return (
        _env()
        .get_template("drill_run.html.j2")
        .render(
            t=text,
            lang=lang,
            plan=plan,
            run=run,
            drill=drill,
            service=service,
            local=local,
            findings=findings(run, text),
            tz=tz,
        )
    )


def render_period(plan: Plan, runs: list[dict[str, Any]], start: datetime, end: datetime, *, lang: str = "es") -> str:
    """Per service: drills planned in the period (by schedule), run, missed and passed."""
    rows = []
    for svc in plan.services.values():
        drills = [d for d in plan.drills.values() if d.service == svc.id]
        planned = sum(len(fire_times(plan.triggers[d.id], start, end)) for d in drills if d.id in plan.triggers)
        mine = [r for r in runs if r["service"] == svc.id and start <= datetime.fromisoformat(r["started_at"]) < end]
        rows.append(
            PeriodRow(
                svc.id,
                svc.name,
                planned,
                sum(1 for r in mine if r["verdict"] not in NOT_RUN),
                sum(1 for r in mine if r["verdict"] == Verdict.MISSED),
                sum(1 for r in mine if r["verdict"] == Verdict.PASSED),
            )
        )
    return (
        _env()
        .get_template("drill_period.html.j2")
        .render(t=TEXT[lang], lang=lang, plan=plan, rows=rows, start=start, end=end)
    )
