"""Month close: freeze the month's figures in a snapshot, render every configured report from it,
and write a sha256 manifest. Closing a month again renders the same snapshot, so the CSV is
byte-for-byte the same even after raw data has been rolled up and deleted."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from domain.availability import Availability, Period
from domain.corrections import Correction
from domain.incidents import Incident as OperatorIncident
from domain.schedule import WeekPlan
from domain.usage import ZoneUsage
from domain.windows import Maintenance, Planned, StoredWindow
from kernel.files import write_atomic
from kernel.month import Month
from kernel.progress import NOBODY, Progress
from render.engine import html_to_pdf
from reports import opendata
from reports.monthly import CalendarDay, MonthFigures, ScheduledZone, ZoneMonth, month_figures
from reports.monthly_report import render
from reports.page import ReportOptions
from store.reader import Reader


@dataclass(frozen=True)
class FrozenZone:
    """The inventory as it was when the month closed."""

    id: str
    name: str
    barrio: str
    ucg: int | None
    localidad: str
    lat: float
    lon: float
    plan: WeekPlan
    sla_target: float | None
    instance: str = ""  # set in a roll-up over several instances (reports.rollup)


def _freeze(figures: MonthFigures) -> dict[str, Any]:
    zones = []
    for z in figures.zones:
        inv = z.zone
        zones.append({
            "zone": {"id": inv.id, "name": inv.name, "barrio": inv.barrio, "ucg": inv.ucg, "localidad": inv.localidad,
                     "lat": inv.lat, "lon": inv.lon, "sla_target": inv.sla_target, "plan": inv.plan.to_json()},
            "availability": asdict(z.availability), "usage": asdict(z.usage), "previous_users": z.previous_users,
            "periods": [asdict(p) for p in z.periods], "path_seconds": z.path_seconds,
        })  # fmt: skip
    return {
        "year": figures.year,
        "month": figures.month,
        "window": list(figures.window),
        "tz": figures.tz,
        "zones": zones,
        "notes": [{**asdict(n), "events": []} for n in figures.notes],  # the incidents as they stood
        "calendar": [asdict(d) for d in figures.calendar],
        "agents_holding": list(figures.agents_holding),
        "corrections": [asdict(c) for c in figures.corrections],
        "late_windows": [asdict(w) for w in figures.late_windows],
        "planned": [asdict(p) for p in figures.planned],
    }


def thaw(body: dict[str, Any]) -> MonthFigures:
    rows = []
    for z in body["zones"]:
        inv = dict(z["zone"])
        frozen = FrozenZone(plan=_plan(inv), **inv)
        rows.append(
            ZoneMonth(
                frozen,
                Availability(**z["availability"]),
                ZoneUsage(**z["usage"]),
                z["previous_users"],
                tuple(Period(**p) for p in z["periods"]),
                float(z.get("path_seconds", 0.0)),  # frozen before zone agents: none
            )
        )
    # A snapshot frozen before incidents existed (schema < 10) has no "notes".
    notes = tuple(OperatorIncident(**{**n, "zones": tuple(n["zones"]), "events": ()}) for n in body.get("notes", []))
    calendar = tuple(CalendarDay(**{**d, "applies_to": tuple(d["applies_to"])}) for d in body.get("calendar", []))
    window = (body["window"][0], body["window"][1])
    holding = tuple(body.get("agents_holding", ()))  # frozen before zone agents: none
    # Frozen before corrections (schema < 13): none.
    corrections = tuple(Correction(**c) for c in body.get("corrections", ()))
    late_windows = tuple(
        StoredWindow(**{**w, "zones": tuple(w["zones"]), "targets": tuple(w["targets"])})
        for w in body.get("late_windows", ())
    )
    planned = tuple(Planned(**{**p, "covers": tuple(p["covers"])}) for p in body.get("planned", ()))
    return MonthFigures(body["year"], body["month"], rows, window, body["tz"], notes, calendar, holding,
                        corrections, late_windows, planned)  # fmt: skip


def _plan(inv: dict[str, Any]) -> WeekPlan:
    """The frozen zone's week plan; months frozen before schedules had weeks kept one daily range."""
    if "plan" in inv:
        return WeekPlan.from_json(inv.pop("plan"))
    hours = inv.pop("hours")
    return WeekPlan.parse("00:00-24:00" if hours is None else f"{hours[0][:5]}-{hours[1][:5]}")


def snapshot(
    reader: Reader,
    zones: list[ScheduledZone],
    year: int,
    month: int,
    tz: ZoneInfo,
    *,
    refreeze: bool = False,
    configured: Sequence[Maintenance] = (),
) -> MonthFigures:
    """The month's frozen figures: made once (from the store) and read back ever after;
    ``configured``: the configuration's maintenance windows (reports.monthly.month_figures)."""
    body = reader.frozen(
        str(Month(year, month)),
        "zones",
        lambda: _freeze(month_figures(reader, zones, year, month, tz, time.time(), configured)),
        refreeze=refreeze,
    )
    assert body is not None
    return thaw(body)


def close_month(
    reader: Reader,
    zones: list[ScheduledZone],
    year: int,
    month: int,
    tz: ZoneInfo,
    out_dir: str,
    opts: ReportOptions,
    *,
    refreeze: bool = False,
    extra: dict[str, bytes] | None = None,
    progress: Progress = NOBODY,
    configured: Sequence[Maintenance] = (),
) -> list[Path]:
    """``extra``: more files for the month's folder and manifest (e.g. the month's drill report)."""
    progress.say(f"{Month(year, month)}: the month's figures (frozen once, read back after)")
    figures = snapshot(reader, zones, year, month, tz, refreeze=refreeze, configured=configured)
    progress.say("the 11 months before, for the trends")
    history = []
    for back in range(11, 0, -1):  # the 11 months before, oldest first, each frozen once
        before = Month(year, month).shift(-back)
        history.append(snapshot(reader, zones, before.year, before.month, tz, configured=configured))
    files = month_files(figures, f"zonas-digitales-{Month(year, month)}", opts, history=history, progress=progress)
    return publish(Path(out_dir) / str(Month(year, month)), {**files, **(extra or {})})


def month_files(
    figures: MonthFigures,
    base: str,
    opts: ReportOptions,
    *,
    history: list[MonthFigures] | None = None,
    not_closed: list[str] | None = None,
    progress: Progress = NOBODY,
) -> dict[str, bytes]:
    """The month's report in each language and format, and its open data, by file name."""
    tz = ZoneInfo(figures.tz)
    closed = Month(figures.year, figures.month).next().first_day()
    out: dict[str, bytes] = {}
    if "csv" in opts.formats:
        out[f"{base}.csv"] = opendata.csv_bytes(figures)
        # Named apart from the zones' dataset, so that what publishes "zonas-digitales-*.csv" keeps
        # publishing one file.
        out[f"caidas-{base.removeprefix('zonas-digitales-')}.csv"] = opendata.outages_csv(
            figures, opts.incident_classes
        )
        if figures.corrections or figures.late_windows:  # the manifest then names them too
            out[f"correcciones-{base.removeprefix('zonas-digitales-')}.csv"] = opendata.corrections_csv(figures)
        out[f"{base}.metadata.json"] = opendata.metadata(
            figures, entity=opts.entity, contact=opts.contact, issued=closed, updated=closed
        )
    generated = datetime.combine(closed, dtime(0), tz).astimezone(UTC)
    for lang in opts.languages:
        progress.say(f"{base}.{lang}: rendering ({len(figures.zones)} zones)")
        html = render(
            figures, lang=lang, header=opts.header, generated=generated, history=history,
            incident_classes=opts.incident_classes, not_closed=not_closed,
        )  # fmt: skip
        if "html" in opts.formats:
            out[f"{base}.{lang}.html"] = html.encode("utf-8")
        if "pdf" in opts.formats:
            progress.say(f"{base}.{lang}.pdf: typesetting")
            out[f"{base}.{lang}.pdf"] = html_to_pdf(html)
    return out


def preview(
    reader: Reader,
    zones: list[ScheduledZone],
    month: Month,
    tz: ZoneInfo,
    out_dir: str,
    opts: ReportOptions,
    *,
    progress: Progress = NOBODY,
    configured: Sequence[Maintenance] = (),
) -> list[Path]:
    """The month so far, marked preliminary on every page, in ``out_dir``/preliminar: computed from
    the store now, never frozen (nothing is written to the store), its trends over the months
    already closed, never in a month's manifest; no
    open data (a month's CSV is published once, closed). Each run replaces the last preview."""
    now = datetime.now(UTC)
    progress.say(f"{month}: the figures so far, from the store")
    figures = month_figures(reader, zones, month.year, month.month, tz, now.timestamp(), configured)
    # The trends' earlier months as their closes froze them; a month not closed yet is left out,
    # since freezing it here would be a write, which a preview never makes.
    earlier = (reader.frozen(str(month.shift(-back)), "zones", None) for back in range(11, 0, -1))
    history = [thaw(body) for body in earlier if body is not None]
    folder = Path(out_dir) / "preliminar"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for lang in opts.languages:
        html = render(
            figures, lang=lang, header=opts.header, generated=now, history=history,
            incident_classes=opts.incident_classes, preliminary=True,
        )  # fmt: skip
        base = f"zonas-digitales-{month}.preliminar.{lang}"
        progress.say(f"{base}: rendering")
        if "html" in opts.formats:
            _write(folder / f"{base}.html", html.encode("utf-8"), written)
        if "pdf" in opts.formats:
            _write(folder / f"{base}.pdf", html_to_pdf(html), written)
    return written


def publish(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` into ``folder`` (each atomically), then the folder's sha256 manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, content in sorted(files.items()):
        _write(folder / name, content, written)
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in sorted(written))
    _write(folder / "MANIFEST.sha256", manifest.encode(), written)
    return written


def _write(path: Path, data: bytes, written: list[Path]) -> None:
    write_atomic(path, data)
    written.append(path)


__all__ = ["FrozenZone", "close_month", "month_files", "preview", "publish", "snapshot", "thaw"]
