"""One page per year: the action-plan lines vigia evidences, the value achieved so far, and links to
the evidence files (monthly reports and their manifests, drill reports and the journal)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.drills import Verdict
from reports import engine

# What each kind of plan line counts, from the evidence found on disk and in the journal.
KINDS = ("zones", "monthly_reports", "continuity_tests", "datacenter_report", "security_report", "open_data")


@dataclass(frozen=True)
class PlanLine:
    activity: str
    product: str
    target: float
    responsible: str
    evidence: str  # one of KINDS


@dataclass(frozen=True)
class LineStatus:
    line: PlanLine
    achieved: float
    links: list[tuple[str, str]]  # (label, relative path)

    @property
    def ratio(self) -> float | None:
        return None if not self.line.target else min(1.0, self.achieved / self.line.target)


def evidence(
    year: int, reports_dir: Path, drill_runs: list[dict[str, Any]]
) -> dict[str, tuple[float, list[tuple[str, str]]]]:
    months = sorted(p for p in reports_dir.glob(f"{year:04d}-??") if (p / "MANIFEST.sha256").exists())
    monthly_links = []
    csv_links = []
    zones_operating = 0.0
    for folder in months:
        for f in sorted(folder.glob("zonas-digitales-*.es.pdf")) or sorted(folder.glob("zonas-digitales-*.html")):
            monthly_links.append((folder.name, str(f.relative_to(reports_dir))))
        for f in sorted(folder.glob("zonas-digitales-*.csv")):
            csv_links.append((folder.name, str(f.relative_to(reports_dir))))
            rows = list(csv.DictReader(io.StringIO(f.read_text(encoding="utf-8"))))
            zones_operating = sum(1 for r in rows if r["DISPONIBILIDAD_PCT"] not in ("", "0.00"))
    drill_links = [
        (folder.name, str(f.relative_to(reports_dir)))
        for folder in months
        for f in sorted(folder.glob("simulacros-*.es.html"))
    ]
    passed = [
        r
        for r in drill_runs
        if r.get("verdict") == Verdict.PASSED and str(r.get("started_at", "")).startswith(str(year))
    ]
    services = sorted({r["service"] for r in passed})
    return {
        "zones": (zones_operating, monthly_links[-1:]),
        "monthly_reports": (float(len(monthly_links)), monthly_links),
        "continuity_tests": (float(len(services)), [*drill_links, ("journal", "../drills/journal.jsonl")]),
        "open_data": (float(len(csv_links)), csv_links),
        "datacenter_report": _reports(months, reports_dir, "centro-datos-*"),
        "security_report": _reports(months, reports_dir, "seguridad-*"),
    }


def _reports(months: list[Path], reports_dir: Path, pattern: str) -> tuple[float, list[tuple[str, str]]]:
    """Reports a month close wrote under ``pattern`` (Spanish PDF, else HTML): one per month counts once."""
    links = []
    for folder in months:
        found = sorted(folder.glob(f"{pattern}.es.pdf")) or sorted(folder.glob(f"{pattern}.es.html"))
        links += [(folder.name, str(f.relative_to(reports_dir))) for f in found[:1]]
    return float(len(links)), links


def render(
    year: int,
    lines: list[PlanLine],
    reports_dir: Path,
    drill_runs: list[dict[str, Any]],
    *,
    lang: str,
    header: engine.Header,
) -> str:
    found = evidence(year, reports_dir, drill_runs)
    status = [LineStatus(line, *found.get(line.evidence, (0.0, []))) for line in lines]
    return engine.render_html(
        "plan_index.html.j2",
        lang,
        header=header,
        year=year,
        status=status,
        generated=datetime.now(),
    )


def load_runs(journal_file: Path) -> list[dict[str, Any]]:
    if not journal_file.exists():
        return []
    return [json.loads(line)["run"] for line in journal_file.read_text().splitlines() if line.strip()]
