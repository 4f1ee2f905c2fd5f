"""The month's security figures from the findings table: open at the month's end by severity (and
the months before, for the trend), new and resolved in the month, time to remediate, assets with
most findings, a table per ISO/IEC 27001:2022 control, strategies per kind of finding, evidence.

Like the data-centre figures, typed (dataclasses) and frozen at month close (reports.shape)."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class Remediation:
    """Days from first seen to resolved, over the findings resolved in the month."""

    mean: float | None
    median: float | None
    max: float | None
    count: int


# Counts by severity: one field per fd.SEVERITIES (alta, media, baja), the frozen JSON's keys.
@dataclass(frozen=True)
class TrendMonth:
    month: str
    alta: int
    media: int
    baja: int


@dataclass(frozen=True)
class AssetCount:
    asset: str
    total: int
    alta: int
    media: int
    baja: int


@dataclass
class ControlRow:
    control: str
    mspi: str
    open: int = 0
    new: int = 0
    resolved: int = 0


@dataclass(frozen=True)
class Strategy:
    kind: str
    severity: str  # the worst open one of its kind
    count: int
    control: str
    mspi: str
    title: dict[str, str]  # by language
    strategy: dict[str, str]
    assets: list[str]


@dataclass(frozen=True)
class Evidence:
    id: str
    kind: str
    title: dict[str, str]
    asset: str
    detail: str
    severity: str
    control: str
    status: str
    first_seen: float
    last_seen: float
    resolved_at: float | None
    evidence: str


@dataclass(frozen=True)
class SecurityMonth:
    window: tuple[float, float]
    open: dict[str, int]  # by severity, at the month's end
    open_total: int
    new: dict[str, int]
    new_total: int
    resolved: dict[str, int]
    resolved_total: int
    remediation_days: Remediation
    trend: list[TrendMonth]
    assets: list[AssetCount]
    controls: list[ControlRow]
    strategies: list[Strategy]
    evidence: list[Evidence]


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
) -> SecurityMonth:
    start, end = _month_start(year, month_, tz), _month_start(year, month_ + 1, tz)

    def type_of(kind: str) -> fd.FindingType:
        return types.get(kind) or fd.CATALOGUE[kind]

    rows = reader.findings_before(end)
    open_end = [r for r in rows if _open_at(r, end)]
    new = [r for r in rows if start <= r.first_seen < end]
    resolved = [r for r in rows if r.resolved_at is not None and start <= r.resolved_at < end]
    days = [(r.resolved_at - r.first_seen) / fd.DAY for r in resolved if r.resolved_at is not None]
    shown = {r.id: r for r in [*open_end, *new, *resolved]}
    evidence = [
        Evidence(
            r.id, r.kind, dict(type_of(r.kind).title), r.asset, r.detail, r.severity, r.control,
            fd.OPEN if _open_at(r, end) else fd.RESOLVED, r.first_seen, min(r.last_seen, end),
            r.resolved_at if not _open_at(r, end) else None, r.evidence,
        )
        for r in sorted(shown.values(), key=lambda r: (_RANK.get(r.severity, 9), r.asset, r.kind, r.detail))
    ]  # fmt: skip
    return SecurityMonth(
        (start, end),
        _by_severity(open_end), len(open_end), _by_severity(new), len(new), _by_severity(resolved), len(resolved),
        Remediation(
            math.fsum(days) / len(days) if days else None, statistics.median(days) if days else None,
            max(days) if days else None, len(days),
        ),
        _trend(rows, year, month_, tz, trend_months),
        _assets(open_end),
        sorted(_controls(rows, start, end, {r.id for r in [*new, *resolved]}).values(),
               key=lambda c: _control_key(c.control)),
        _strategies(open_end, type_of),
        evidence,
    )  # fmt: skip


def _by_severity(rows: Sequence[fd.Finding]) -> dict[str, int]:
    return {s: sum(r.severity == s for r in rows) for s in fd.SEVERITIES}


def _assets(open_end: Sequence[fd.Finding]) -> list[AssetCount]:
    """The ten assets with most open findings, gravest first."""
    by_asset: dict[str, Counter[str]] = defaultdict(Counter)
    for r in open_end:
        by_asset[r.asset][r.severity] += 1
    ranked = sorted(
        by_asset.items(), key=lambda kv: (-sum(kv[1].values()), *(-kv[1].get(s, 0) for s in fd.SEVERITIES), kv[0])
    )
    return [AssetCount(a, sum(c.values()), c["alta"], c["media"], c["baja"]) for a, c in ranked[:10]]


def _trend(rows: Sequence[fd.Finding], year: int, month_: int, tz: ZoneInfo, months: int) -> list[TrendMonth]:
    """Open findings by severity at the end of each of the last ``months`` months."""
    trend = []
    for back in range(months - 1, -1, -1):
        m_end = _month_start(year, month_ + 1 - back, tz)
        label = datetime.fromtimestamp(_month_start(year, month_ - back, tz), tz).strftime("%Y-%m")
        counts = Counter(r.severity for r in rows if _open_at(r, m_end))
        trend.append(TrendMonth(label, counts["alta"], counts["media"], counts["baja"]))
    return trend


def _controls(rows: Sequence[fd.Finding], start: float, end: float, touched: set[str]) -> dict[str, ControlRow]:
    """Per Annex A control: open at the month's end, new and resolved in it."""
    controls: dict[str, ControlRow] = {}
    for r in rows:
        if not (_open_at(r, end) or r.id in touched):
            continue
        c = controls.setdefault(r.control, ControlRow(r.control, r.mspi))
        c.open += _open_at(r, end)
        c.new += start <= r.first_seen < end
        c.resolved += r.resolved_at is not None and start <= r.resolved_at < end
    return controls


def _strategies(open_end: list[fd.Finding], type_of: Callable[[str], fd.FindingType]) -> list[Strategy]:
    """One strategy per kind of open finding, worst first."""
    kinds: dict[str, list[fd.Finding]] = defaultdict(list)
    for r in open_end:
        kinds[r.kind].append(r)
    strategies = []
    for kind, items in kinds.items():
        ft = type_of(kind)
        worst = min((r.severity for r in items), key=lambda s: _RANK.get(s, 9))
        strategies.append(Strategy(kind, worst, len(items), ft.control, ft.mspi, dict(ft.title), dict(ft.strategy),
                                   sorted({r.asset for r in items})))  # fmt: skip
    strategies.sort(key=lambda s: (_RANK.get(s.severity, 9), -s.count, s.kind))
    return strategies


def _control_key(control: str) -> tuple[int, ...]:
    return tuple(int(x) for x in control.removeprefix("A.").split(".") if x.isdigit())
