"""The monthly report of use and appropriation of the Zonas Digitales (HTML and PDF, es/en)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from domain.incidents import CAUSES
from domain.vantage import MEASURED_CAUSES
from render import catalogue
from render.catalogue import msgid
from reports import charts, page
from reports.monthly import Accounting, MonthFigures, ZoneMonth

# Message ids of the causes that are not an operator's (domain.incidents.CAUSES has its own words).
_CAUSE_IDS = {
    "unrecorded": msgid("cause not recorded"),
    "planned": msgid("planned maintenance"),
    "excluded": msgid("excluded: not downtime"),
    "outside hours": msgid("outside operating hours"),
}


@dataclass(frozen=True)
class Group:
    name: str
    zones: int
    users: int | None
    sessions: int | None
    traffic_gb: float | None
    availability: float | None


def _groups(figures: MonthFigures, key: str) -> list[Group]:
    buckets: dict[str, list[ZoneMonth]] = defaultdict(list)
    for z in figures.zones:
        value = getattr(z.zone, key)
        buckets["—" if value in (None, "") else str(value)].append(z)
    out = []
    for name, zs in sorted(buckets.items()):
        measured = sum(z.availability.measured_seconds for z in zs)
        down = sum(z.availability.downtime_seconds for z in zs)
        users = [z.usage.unique_users for z in zs if z.usage.unique_users is not None]
        sessions = [z.usage.sessions for z in zs if z.usage.sessions is not None]
        traffic = [z.traffic_gb for z in zs if z.traffic_gb is not None]
        out.append(
            Group(
                name,
                len(zs),
                sum(users) if users else None,
                sum(sessions) if sessions else None,
                sum(traffic) if traffic else None,
                (measured - down) / measured if measured else None,
            )
        )
    return out


@dataclass(frozen=True)
class TrendPoint:
    year: int
    month: int
    availability: float | None
    users: float | None
    sessions: float | None
    accounting: Accounting


@dataclass(frozen=True)
class Alike:
    """Zones whose row of a table would say the same (a schedule and its hours, usage sources): one
    row for them all. A 1,000-zone month printed 2,000 rows that said one thing: a tenth of the
    time its PDF took to typeset."""

    zones: list[str]
    says: tuple[object, ...]


def alike(figures: MonthFigures, says: Callable[[ZoneMonth], tuple[object, ...]]) -> list[Alike]:
    """The zones grouped by what ``says`` gives for each, in the order their first zone comes."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for z in figures.zones:
        groups.setdefault(says(z), []).append(z.zone.id)
    return [Alike(zones, key) for key, zones in groups.items()]


def trend_of(history: list[MonthFigures]) -> list[TrendPoint]:
    return [
        TrendPoint(f.year, f.month, f.availability, f.total("unique_users"), f.total("sessions"), f.accounting)
        for f in history
    ]


def render(
    figures: MonthFigures,
    *,
    lang: str,
    header: page.Header,
    generated: datetime | None = None,
    history: list[MonthFigures] | None = None,
    incident_classes: dict[str, str] | None = None,
    not_closed: list[str] | None = None,
    preliminary: bool = False,
) -> str:
    """``history``: up to 11 earlier months (oldest first) for the 12-month trends; in a roll-up
    over several instances (reports.rollup), ``not_closed`` names those whose month is missing."""
    tz = ZoneInfo(figures.tz)
    trend = trend_of([*(history or []), figures])
    tr = catalogue.translations(lang)
    no_data = tr.gettext("no data")
    points = [(z.zone.id, z.zone.lat, z.zone.lon, z.availability.availability) for z in figures.zones]
    ranked = sorted(
        (z for z in figures.zones if z.availability.availability is not None),
        key=lambda z: (z.availability.availability, z.zone.id),
    )
    targets = [z.zone.sla_target for z in figures.zones if z.zone.sla_target is not None]
    return page.render_html(
        "monthly.html.j2",
        lang,
        header=header,
        preliminary=preliminary,
        figures=figures,
        month_start=date(figures.year, figures.month, 1),
        generated=(generated or datetime.now(UTC)).astimezone(tz),
        zone_map=charts.zone_map(points, tr.gettext("Availability by zone"), no_data),
        availability_chart=charts.bars(
            [z.zone.id for z in figures.zones],
            [z.availability.availability for z in figures.zones],
            tr.gettext("Availability by zone"),
            min(targets) if targets else None,
        ),
        worst=ranked[:5],
        at=lambda ts: datetime.fromtimestamp(ts, tz),  # a stored time, in the report's zone
        by_instance=_groups(figures, "instance") if any(getattr(z.zone, "instance", "") for z in figures.zones) else [],
        not_closed=not_closed or [],
        by_localidad=_groups(figures, "localidad"),
        by_ucg=_groups(figures, "ucg"),
        schedules=alike(figures, lambda z: (z.zone.plan.describe(lang), z.availability.operating_seconds)),
        sources=alike(figures, lambda z: (", ".join(z.usage.sources) or "—",)),
        incidents=figures.incidents(incident_classes),
        causes=figures.causes(incident_classes),
        cause_words=lambda key: tr.gettext(CAUSES.get(key) or MEASURED_CAUSES.get(key) or _CAUSE_IDS.get(key) or key),
        target=min(targets) if targets else None,
        tz=tz.key,
        has_data=any(z.availability.measured_seconds > 0 for z in figures.zones),
        trend=trend,
        trend_chart=charts.bars(
            [f"{p.year}-{p.month:02d}" for p in trend],
            [p.availability for p in trend],
            tr.gettext("Overall availability, last 12 months"),
            min(targets) if targets else None,
        ),
    )
