"""One page per year: the action-plan lines vigia evidences, the value achieved so far, and links to
the evidence files (monthly reports and their manifests, drill reports and the journal)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.drills import Verdict
from domain.usage import ZoneUsage
from reports import page

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
    counted: dict[str, int] = field(default_factory=dict)  # what the figure is made of (zones: by source)

    @property
    def ratio(self) -> float | None:
        return None if not self.line.target else min(1.0, self.achieved / self.line.target)


def _number(text: str) -> float:
    return float(text) if text.strip() else 0.0


def zones_counted(rows: list[dict[str, str]]) -> dict[str, int]:
    """Of a month's open-data rows: zones operating (measured available) or in use (any usage
    source, domain.usage.ZoneUsage.in_use_by), and how many each of those saw."""
    out = {"zones": 0, "available": 0}
    for r in rows:
        devices = {k: int(_number(r[f"DISPOSITIVOS_{k.upper()}"])) for k in ("smartphone", "tablet", "pc", "otro")}
        usage = ZoneUsage(
            unique_users=int(_number(r["USUARIOS_UNICOS"])),
            sessions=int(_number(r["SESIONES"])),
            input_octets=_number(r["TRAFICO_GB"]) * 1e9,
            devices={k: v for k, v in devices.items() if v} if any(devices.values()) else {},
        )
        available = r["DISPONIBILIDAD_PCT"] not in ("", "0.00")
        seen = usage.in_use_by()
        out["zones"] += available or bool(seen)
        out["available"] += available
        for source in seen:
            out[source] = out.get(source, 0) + 1
    return out


Evidence = tuple[float, list[tuple[str, str]], dict[str, int]]


def evidence(year: int, reports_dir: Path, drill_runs: list[dict[str, Any]]) -> dict[str, Evidence]:
    months = sorted(p for p in reports_dir.glob(f"{year:04d}-??") if (p / "MANIFEST.sha256").exists())
    monthly_links = []
    csv_links = []
    zones: dict[str, int] = {"zones": 0}
    for folder in months:
        for f in sorted(folder.glob("zonas-digitales-*.es.pdf")) or sorted(folder.glob("zonas-digitales-*.html")):
            monthly_links.append((folder.name, str(f.relative_to(reports_dir))))
        for f in sorted(folder.glob("zonas-digitales-*.csv")):
            csv_links.append((folder.name, str(f.relative_to(reports_dir))))
            zones = zones_counted(list(csv.DictReader(io.StringIO(f.read_text(encoding="utf-8")))))
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
        # The latest closed month: zones operating or in use then, and what saw each.
        "zones": (float(zones.pop("zones")), monthly_links[-1:], zones),
        "monthly_reports": (float(len(monthly_links)), monthly_links, {}),
        "continuity_tests": (float(len(services)), [*drill_links, ("journal", "../drills/journal.jsonl")], {}),
        "open_data": (float(len(csv_links)), csv_links, {}),
        "datacenter_report": _reports(months, reports_dir, "centro-datos-*"),
        "security_report": _reports(months, reports_dir, "seguridad-*"),
    }


def _reports(months: list[Path], reports_dir: Path, pattern: str) -> Evidence:
    """Reports a month close wrote under ``pattern`` (Spanish PDF, else HTML): one per month counts once."""
    links = []
    for folder in months:
        found = sorted(folder.glob(f"{pattern}.es.pdf")) or sorted(folder.glob(f"{pattern}.es.html"))
        links += [(folder.name, str(f.relative_to(reports_dir))) for f in found[:1]]
    return float(len(links)), links, {}


def render(
    year: int,
    lines: list[PlanLine],
    reports_dir: Path,
    drill_runs: list[dict[str, Any]],
    *,
    lang: str,
    header: page.Header,
) -> str:
    found = evidence(year, reports_dir, drill_runs)
    status = [LineStatus(line, *found.get(line.evidence, (0.0, [], {}))) for line in lines]
    return page.render_html(
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
