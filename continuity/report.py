"""Drill reports (Spanish by default, English available): one run, or a period per service.

Rendered by the render layer's engine with the continuity templates; every word is a message id
of the one catalogue (render/locale). Findings are derived from the journal (failed steps,
targets missed); corrective actions and approval are left as a table and signature block to fill,
because they are decisions of people, not measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from continuity.plan import Plan
from domain.drills import NOT_RUN, Verdict
from kernel.cron import fire_times
from render import catalogue, engine
from render.catalogue import msgid

TEMPLATES = Path(__file__).parent / "templates"

# Verdicts and phases in words: message ids, translated where they are shown.
VERDICTS = {
    "passed": msgid("passed"), "failed": msgid("failed"), "aborted": msgid("aborted"),
    "interrupted": msgid("interrupted"), "missed": msgid("missed"), "skipped": msgid("skipped"),
    "precondition_failed": msgid("precondition failed"),
}  # fmt: skip
PHASES = {
    "preconditions": msgid("Preconditions"), "method": msgid("Method"), "verify": msgid("Verify"),
    "rollback": msgid("Rollback"), "post_verify": msgid("Post-verify"),
}  # fmt: skip


def _render(template: str, lang: str, **context: Any) -> str:
    return engine.render_html(TEMPLATES, template, lang, verdicts=VERDICTS, phases=PHASES, **context)


@dataclass(frozen=True)
class PeriodRow:
    service: str
    name: str
    planned: int
    ran: int
    missed: int
    passed: int


def findings(run: dict[str, Any], lang: str) -> list[str]:
    gettext = catalogue.gettext(lang)
    out = []
    for step in run["steps"]:
        if not step["ok"]:
            phase = gettext(PHASES[step["phase"]])
            out.append(
                gettext("Step “{step}” ({phase}) failed: {detail}").format(
                    step=step["name"], phase=phase, detail=step["detail"]
                )
            )
    for key, words in (
        ("rto", msgid("RTO achieved {achieved} exceeds the target of {target}")),
        ("rpo", msgid("RPO achieved {achieved} exceeds the target of {target}")),
    ):
        achieved, target = run.get(f"{key}_achieved_seconds"), run.get(f"{key}_target_seconds")
        if achieved is not None and target is not None and achieved > target:
            out.append(gettext(words).format(achieved=engine.duration(achieved), target=engine.duration(target)))
    if run.get("rollback_ok") is False:
        out.append(gettext("The rollback did not complete"))
    return out


def render_run(plan: Plan, run: dict[str, Any], *, lang: str = "es", tz: str = "America/Bogota") -> str:
    zone = ZoneInfo(tz)
    drill = plan.drills.get(run["drill"])
    service = plan.services.get(run["service"])

    def local(value: str | None) -> str:
        return "—" if not value else datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    return _render(
        "drill_run.html.j2",
        lang,
        plan=plan,
        run=run,
        drill=drill,
        service=service,
        local=local,
        findings=findings(run, lang),
        tz=tz,
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
    return _render("drill_period.html.j2", lang, plan=plan, rows=rows, start=start, end=end)
