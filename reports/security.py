"""The month's security figures from the findings table: open at the month's end by severity (and
the months before, for the trend), new and resolved in the month, time to remediate, assets with
most findings, a table per ISO/IEC 27001:2022 control, strategies per kind of finding, evidence.

Like the data-centre figures, a plain JSON-able mapping frozen at month close."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain import findings as fd
from kernel.month import Month
from store.reader import Reader

# The Annex A controls vigia's findings map to, by their ISO/IEC 27001:2022 titles (es, en).
CONTROLS: dict[str, tuple[str, str]] = {
    "A.5.9": ("Inventario de información y otros activos asociados",
              "Inventory of information and other associated assets"),
    "A.5.14": ("Transferencia de información", "Information transfer"),
    "A.5.30": ("Preparación de las TIC para la continuidad del negocio", "ICT readiness for business continuity"),
    "A.8.6": ("Gestión de la capacidad", "Capacity management"),
    "A.8.8": ("Gestión de las vulnerabilidades técnicas", "Management of technical vulnerabilities"),
    "A.8.9": ("Gestión de la configuración", "Configuration management"),
    "A.8.14": ("Redundancia de las instalaciones de procesamiento de información",
               "Redundancy of information processing facilities"),
    "A.8.16": ("Actividades de seguimiento", "Monitoring activities"),
    "A.8.20": ("Seguridad de redes", "Networks security"),
    "A.8.24": ("Uso de criptografía", "Use of cryptography"),
    "A.8.26": ("Requisitos de seguridad de las aplicaciones", "Application security requirements"),
}  # fmt: skip

_RANK = {s: i for i, s in enumerate(fd.SEVERITIES)}


def control_title(control: str, lang: str) -> str:
    titles = CONTROLS.get(control)
    return "" if titles is None else titles[0 if lang == "es" else 1]


def _open_at(row: fd.Finding, at: float) -> bool:
    return bool(row.first_seen < at and (row.resolved_at is None or row.resolved_at >= at))


def _month_start(year: int, month: int, tz: ZoneInfo) -> float:
    # ``month`` may run past 12 or below 1 (a trend reaches back): Month.shift normalises it.
    return Month(year, 1).shift(month - 1).start(tz).timestamp()


def month(
    reader: Reader,
    year: int,
    month_: int,
    tz: ZoneInfo,
    types: Mapping[str, fd.FindingType],
    *,
    trend_months: int = 6,
) -> dict[str, Any]:
    start, end = _month_start(year, month_, tz), _month_start(year, month_ + 1, tz)

    def type_of(kind: str) -> fd.FindingType:
        return types.get(kind) or fd.CATALOGUE[kind]

    rows = reader.findings_before(end)
    open_end = [r for r in rows if _open_at(r, end)]
    new = [r for r in rows if start <= r.first_seen < end]
    resolved = [r for r in rows if r.resolved_at is not None and start <= r.resolved_at < end]
    trend = _trend(rows, year, month_, tz, trend_months)
    days = [(r.resolved_at - r.first_seen) / fd.DAY for r in resolved if r.resolved_at is not None]
    by_asset: dict[str, Counter[str]] = defaultdict(Counter)
    for r in open_end:
        by_asset[r.asset][r.severity] += 1
    assets = sorted(
        by_asset.items(), key=lambda kv: (-sum(kv[1].values()), *(-kv[1].get(s, 0) for s in fd.SEVERITIES), kv[0])
    )
    controls = _controls(rows, start, end, {r.id for r in [*new, *resolved]})
    strategies = _strategies(open_end, type_of)
    shown = {r.id: r for r in [*open_end, *new, *resolved]}
    evidence = [
        {
            "id": r.id, "kind": r.kind, "title": dict(type_of(r.kind).title),
            "asset": r.asset, "detail": r.detail, "severity": r.severity, "control": r.control,
            "status": fd.OPEN if _open_at(r, end) else fd.RESOLVED, "first_seen": r.first_seen,
            "last_seen": min(r.last_seen, end), "resolved_at": r.resolved_at if not _open_at(r, end) else None,
            "evidence": r.evidence,
        }
        for r in sorted(shown.values(), key=lambda r: (_RANK.get(r.severity, 9), r.asset, r.kind, r.detail))
    ]  # fmt: skip
    return {
        "window": [start, end],
        "open": {s: sum(r.severity == s for r in open_end) for s in fd.SEVERITIES},
        "open_total": len(open_end),
        "new": {s: sum(r.severity == s for r in new) for s in fd.SEVERITIES},
        "new_total": len(new),
        "resolved": {s: sum(r.severity == s for r in resolved) for s in fd.SEVERITIES},
        "resolved_total": len(resolved),
        "remediation_days": {
            "mean": math.fsum(days) / len(days) if days else None,
            "median": statistics.median(days) if days else None,
            "max": max(days) if days else None,
            "count": len(days),
        },
        "trend": trend,
        "assets": [
            {"asset": a, "total": sum(c.values()), **{s: c.get(s, 0) for s in fd.SEVERITIES}} for a, c in assets[:10]
        ],
        "controls": sorted(controls.values(), key=lambda c: _control_key(c["control"])),
        "strategies": strategies,
        "evidence": evidence,
    }


def _trend(rows: Sequence[fd.Finding], year: int, month_: int, tz: ZoneInfo, months: int) -> list[dict[str, Any]]:
    """Open findings by severity at the end of each of the last ``months`` months."""
    trend = []
    for back in range(months - 1, -1, -1):
        m_end = _month_start(year, month_ + 1 - back, tz)
        label = datetime.fromtimestamp(_month_start(year, month_ - back, tz), tz).strftime("%Y-%m")
        counts = Counter(r.severity for r in rows if _open_at(r, m_end))
        trend.append({"month": label, **{s: counts.get(s, 0) for s in fd.SEVERITIES}})
    return trend


def _controls(rows: Sequence[fd.Finding], start: float, end: float, touched: set[str]) -> dict[str, dict[str, Any]]:
    """Per Annex A control: open at the month's end, new and resolved in it."""
    controls: dict[str, dict[str, Any]] = {}
    for r in rows:
        if not (_open_at(r, end) or r.id in touched):
            continue
        c = controls.setdefault(r.control, {"control": r.control, "mspi": r.mspi, "open": 0, "new": 0, "resolved": 0})
        c["open"] += _open_at(r, end)
        c["new"] += start <= r.first_seen < end
        c["resolved"] += r.resolved_at is not None and start <= r.resolved_at < end
    return controls


def _strategies(open_end: list[fd.Finding], type_of: Callable[[str], fd.FindingType]) -> list[dict[str, Any]]:
    """One strategy per kind of open finding, worst first."""
    strategies = []
    kinds: dict[str, list[Any]] = defaultdict(list)
    for r in open_end:
        kinds[r.kind].append(r)
    for kind, items in kinds.items():
        ft = type_of(kind)
        worst = min((r.severity for r in items), key=lambda s: _RANK.get(s, 9))
        strategies.append({
            "kind": kind, "severity": worst, "count": len(items), "control": ft.control, "mspi": ft.mspi,
            "title": dict(ft.title), "strategy": dict(ft.strategy),
            "assets": sorted({r.asset for r in items}),
        })  # fmt: skip
    strategies.sort(key=lambda s: (_RANK.get(s["severity"], 9), -s["count"], s["kind"]))
    return strategies


def _control_key(control: str) -> tuple[int, ...]:
    return tuple(int(x) for x in control.removeprefix("A.").split(".") if x.isdigit())
