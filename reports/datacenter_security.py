"""Month close of the data-centre optimisation and digital-security reports: each month's figures
frozen once (month_snapshots, kinds "datacenter" and "security"), rendered in each language and
format into files named as the plan index expects (centro-datos-*, seguridad-*)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from datetime import time as dtime
from zoneinfo import ZoneInfo

from domain.availability import month_window
from domain.findings import FindingType
from domain.schedule import Schedule
from kernel.month import Month
from render.engine import html_to_pdf
from reports import datacenter, datacenter_month, datacenter_report, security, security_report
from reports.datacenter_month import DatacenterMonth
from reports.page import MonthPage, ReportOptions
from reports.security import SecurityMonth
from reports.shape import from_json, to_json
from store.reader import Reader


def render_month(
    reader: Reader,
    year: int,
    month: int,
    tz: ZoneInfo,
    *,
    hosts: Mapping[str, datacenter.Inventory],
    services: Sequence[str],
    rules: datacenter.Rules,
    types: Mapping[str, FindingType],
    schedules: Mapping[str, Schedule] | None = None,
    opts: ReportOptions,
    refreeze: bool = False,
) -> dict[str, bytes]:
    """File name -> content, for the month's folder and manifest."""
    key = str(Month(year, month))
    window = month_window(year, month, tz, time.time())
    dc_body = reader.frozen(
        key, "datacenter",
        lambda: to_json(datacenter_month.month(reader, dict(hosts), list(services), window, tz, rules, schedules)),
        refreeze=refreeze,
    )  # fmt: skip
    sec_body = reader.frozen(
        key, "security", lambda: to_json(security.month(reader, year, month, tz, types)), refreeze=refreeze
    )
    assert dc_body is not None and sec_body is not None
    dc, sec = from_json(DatacenterMonth, dc_body), from_json(SecurityMonth, sec_body)
    history = []
    for back in range(5, 0, -1):  # the months before that were frozen, oldest first (never recomputed)
        before = str(Month(year, month).shift(-back))
        earlier = reader.frozen(before, "datacenter", None)
        if earlier is not None:
            history.append((before, from_json(DatacenterMonth, earlier)))
    closed = Month(year, month).next().first_day()
    generated = datetime.combine(closed, dtime(0), tz).astimezone(UTC)
    out: dict[str, bytes] = {}
    for lang in opts.languages:
        page = MonthPage(year, month, tz.key, lang, opts.header, generated)
        pages = {
            f"centro-datos-{key}.{lang}": datacenter_report.render(dc, page, history),
            f"seguridad-{key}.{lang}": security_report.render(sec, page),
        }
        for name, html in pages.items():
            if "html" in opts.formats:
                out[f"{name}.html"] = html.encode("utf-8")
            if "pdf" in opts.formats:
                out[f"{name}.pdf"] = html_to_pdf(html)
    return out
