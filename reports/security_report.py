"""The monthly digital-security report (HTML and PDF, es/en) from the month's findings figures."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.findings import SEVERITIES
from render import engine
from reports.page import MonthPage
from reports.security import SecurityMonth, control_title


def render(figures: SecurityMonth, page: MonthPage) -> str:
    zone = ZoneInfo(page.tz)
    when = engine.formats(page.lang)["when"]
    # Severity and status are stored in Spanish, the words of the office's own procedure.
    words = {} if page.lang == "es" else {
        "alta": "high", "media": "medium", "baja": "low", "abierta": "open", "resuelta": "resolved",
    }  # fmt: skip

    def stamp(ts: float | None) -> str:
        return "—" if ts is None else str(when(datetime.fromtimestamp(ts, zone)))

    return page.render(
        "security.html.j2",
        figures,
        severities=SEVERITIES,
        severity=lambda s: words.get(s, s),
        status=lambda s: words.get(s, s),
        control_title=lambda c: control_title(c, page.lang),
        stamp=stamp,
    )
