"""The public status page of the Zonas Digitales: what a citizen may see, and nothing more.

Built from the zones' inventory and their current state into an allow-listed view (id, name,
barrio, localidad, coordinates, state in words, since when): never an address, URL, OID,
community, NAS or check id. Rendered as HTML (Spanish by default; readable without JavaScript,
text beside every colour), JSON, and an SVG badge per zone; the map is drawn as SVG from the
zones' coordinates, nothing fetched from anywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup
from markupsafe import escape as markup_escape

from domain.incidents import CAUSES, Incident
from domain.vantage import MEASURED_CAUSES, measured_cause
from domain.windows import Maintenance
from domain.zone_state import ZoneState, ZoneStatus
from domain.zones import Zone
from render import engine
from render.catalogue import gettext, msgid
from reports import page, status_bars
from reports.xmltext import escape


@dataclass(frozen=True)
class Look:
    """A state's words (a message id of the catalogue) and colours."""

    words: str
    bg: str
    fg: str = "#ffffff"


# Each state's words and colours. Text on the colour meets WCAG AA (>= 4.5:1, tests/test_status_page.py).
STATES: dict[str, Look] = {
    "up": Look(msgid("operating"), "#1b6e20"),
    "degraded": Look(msgid("degraded"), "#7a4f00"),
    "down": Look(msgid("down"), "#b00020"),
    "maintenance": Look(msgid("in maintenance"), "#2f3f8f"),
    "no_data": Look(msgid("no data"), "#595959"),
}
# A zone vigia has not judged yet is "no data" to the public: never "down".
_PUBLIC = {ZoneStatus.UNKNOWN: "no_data"}


# Days in the page's availability bar, and in the availability badge's figure.
BAR_DAYS, BADGE_DAYS = 90, 30


@dataclass(frozen=True)
class History:
    """A zone's daily availability within its operating hours, oldest first (None: no data that
    day), and over the last BADGE_DAYS days as one figure."""

    days: tuple[float | None, ...]
    last_30: float | None


@dataclass(frozen=True)
class PublicZone:
    """The allow-listed fields of a zone: everything the page, the JSON and the badges show."""

    id: str
    name: str
    barrio: str
    localidad: str
    lat: float
    lon: float
    state: str
    since: str | None  # ISO 8601 in the configured timezone
    days: tuple[float | None, ...] = ()  # daily availability within hours, oldest first (BAR_DAYS)
    last_30: float | None = None
    closed_today: dict[str, str] | None = None  # by language: why the schedule has no hours today
    cause: str | None = None  # the outage's cause as the zone's agent measured it (domain.vantage)


@dataclass(frozen=True)
class PublicUpdate:
    at: str
    kind: str  # opened | update | closed
    text: str


@dataclass(frozen=True)
class PublicIncident:
    """An incident as the public sees it: never who typed it (the audit trail keeps that)."""

    id: int
    zones: tuple[str, ...]
    title: str
    cause: str
    ticket: str
    opened: str
    closed: str | None
    updates: tuple[PublicUpdate, ...]


@dataclass(frozen=True)
class PublicWindow:
    """Maintenance ahead or under way, by zone: never the check targets a window also covers."""

    zones: tuple[str, ...]
    start: str
    end: str
    reason: str


# How far ahead the page announces maintenance.
AHEAD = timedelta(days=7)


def windows_ahead(
    windows: Iterable[Maintenance], zone_ids: set[str], now: datetime, tz: ZoneInfo
) -> list[PublicWindow]:
    """Each window's current or next occurrence that touches zones and starts within AHEAD."""
    out = []
    for w in windows:
        zones = tuple(sorted(w.targets & zone_ids))
        if not zones:
            continue
        span = w.occurrence(now)
        if span is None or span[1] <= now or span[0] > now + AHEAD:
            continue
        start, end = (t.astimezone(tz).isoformat(timespec="minutes") for t in span)
        # The reason is public only when the window covers nothing but zones and their checks
        # (whose ids are the zone's followed by ":"): one that also covers data-centre targets was
        # written for the office ("cambio del switch core 10.0.0.1") and is not shown.
        zones_only = all(m.partition(":")[0] in zone_ids for m in w.targets)
        out.append(PublicWindow(zones, start, end, w.reason if zones_only else ""))
    return sorted(out, key=lambda p: p.start)


@dataclass(frozen=True)
class StatusView:
    title: str
    generated: str
    tz: str
    zones: tuple[PublicZone, ...]
    incidents: tuple[PublicIncident, ...] = ()
    maintenance: tuple[PublicWindow, ...] = ()

    def open_incidents(self) -> list[PublicIncident]:
        return [i for i in self.incidents if i.closed is None]

    def counts(self) -> dict[str, int]:
        return self._counts

    def by_localidad(self) -> list[tuple[str, list[PublicZone]]]:
        return self._groups

    # Computed once per view (the page in two languages and the JSON read them): 2,000 zones.
    @functools.cached_property
    def _counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for z in self.zones:
            out[z.state] += 1
        return out

    @functools.cached_property
    def _groups(self) -> list[tuple[str, list[PublicZone]]]:
        groups: dict[str, list[PublicZone]] = {}
        for z in self.zones:
            groups.setdefault(z.localidad or "—", []).append(z)
        return sorted(groups.items())


def _stamp(at: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, tz).isoformat(timespec="seconds")  # RFC 3339, as Atom wants


def public_incident(i: Incident, tz: ZoneInfo) -> PublicIncident:
    updates = tuple(PublicUpdate(_stamp(e.at, tz), e.kind, e.text) for e in i.events)
    closed = _stamp(i.closed_at, tz) if i.closed_at is not None else None
    return PublicIncident(i.id, i.zones, i.title, i.cause, i.ticket, _stamp(i.opened_at, tz), closed, updates)


def public_zone(zone: Zone, st: ZoneState | None, now: datetime, tz: ZoneInfo, h: History | None) -> PublicZone:
    """What the public sees of one zone."""
    status = st.status if st is not None else ZoneStatus.UNKNOWN
    state = _PUBLIC.get(status, str(status))
    since = st.since.astimezone(tz).isoformat(timespec="minutes") if st is not None and st.since else None
    place = (zone.id, zone.name, zone.barrio, zone.localidad, zone.lat, zone.lon)
    today = zone.hours.day(now.astimezone(tz).date())
    closed = {lang: today.why(lang) for lang in ("es", "en")} if not today.ranges else None
    measured = measured_cause(st.last.reason) if st is not None and st.last is not None else ""
    cause = measured if status in (ZoneStatus.DOWN, ZoneStatus.DEGRADED) and measured else None
    return PublicZone(*place, state, since, h.days if h else (), h.last_30 if h else None, closed, cause)


ZoneView = Callable[[Zone, "ZoneState | None", datetime, ZoneInfo, "History | None"], PublicZone]


def view(
    title: str,
    zones: Iterable[Zone],
    states: Mapping[str, ZoneState],
    now: datetime,
    tz: ZoneInfo,
    incidents: Iterable[Incident] = (),
    windows: Iterable[Maintenance] = (),
    history: Mapping[str, History] | None = None,
    zone_view: ZoneView = public_zone,
) -> StatusView:
    """The page's view; ``zone_view`` may keep what it saw (reports.status_parts)."""
    history = history or {}
    out = [zone_view(zone, states.get(zone.id), now, tz, history.get(zone.id)) for zone in zones]
    told = tuple(public_incident(i, tz) for i in incidents)
    ahead = tuple(windows_ahead(windows, {z.id for z in out}, now, tz))
    return StatusView(title, now.astimezone(tz).isoformat(timespec="seconds"), tz.key, tuple(out), told, ahead)


# A page as it is put together: its own text, then the parts of these zones (by id, in order),
# then the next text, and so on; the zones' parts are kept by the renderer and joined in as bytes.
Segments = list[tuple[bytes, list[str]]]


def zone_row(
    z: PublicZone, first_day: datetime, lang: str, bar: str | None = None, frame: RowFrame | None = None
) -> Markup:
    """One zone's row of the page (its table line, its bar of days): ``bar`` and ``frame`` when kept
    from before."""
    bar = status_bars.draw(z.days, first_day, lang).svg if bar is None else bar
    before, between, after = row_frame(z, lang) if frame is None else frame
    return Markup(before + bar + between + last_30_text(z, lang) + after)


RowFrame = tuple[str, str, str]  # a row's text before its bar, between it and its 30-day figure, after that
# Where kept parts go in a template's text: comments no printed value can make (every value a
# template prints is escaped: "<!--" from an inventory arrives as "&lt;!--").
_BAR, _LAST_30, _ROWS = "<!--vigia-bar-->", "<!--vigia-30-->", "<!--vigia-rows-{}-->"
_SEAM = re.compile(_ROWS.replace("{}", r"(\d+)").encode())  # a localidad's rows, by its number


def row_frame(z: PublicZone, lang: str) -> RowFrame:
    """The row's own text around its bar of days and its 30-day figure, which change with every
    read of the store (every 10 minutes, every zone) while the rest changes with the zone's state."""
    text = page.render_html("status_row.html.j2", lang, z=z, bar=Markup(_BAR), last_30=Markup(_LAST_30),
                            states=STATES, measured=MEASURED_CAUSES)  # fmt: skip
    before, _, rest = text.partition(_BAR)
    between, _, after = rest.partition(_LAST_30)
    return before, between, after


def row_frame_key(z: PublicZone) -> tuple[object, ...]:
    """What a row's frame shows of its zone: all the template prints but the days and the 30-day
    figure (a field the template comes to print must be named here)."""
    return (z.id, z.name, z.barrio, z.state, z.since, z.closed_today, z.cause, bool(z.days))


def last_30_text(z: PublicZone, lang: str) -> str:
    """The row's 30-day figure, as printed (escaped: its words come from the catalogue)."""
    if not z.days:
        return ""
    return str(markup_escape(_pct(lang)(z.last_30, 2) if z.last_30 is not None else gettext(lang)("no data")))


def html(v: StatusView, lang: str, *, max_age: float) -> str:
    """The page, whole (every row made here)."""
    first = first_day(v)
    rows = {z.id: zone_row(z, first, lang) for z in v.zones}
    segments = html_segments(v, lang, max_age=max_age)
    return "".join(text.decode("utf-8") + "".join(rows[i] for i in ids) for text, ids in segments)


def html_segments(v: StatusView, lang: str, *, max_age: float, zone_map: str | None = None) -> Segments:
    """The page as segments: its own text (UTF-8) and, after each localidad's heading, its zones'
    rows. The renderer joins the rows it keeps (as bytes) into the text: a page of 2,000 zones
    (~9 MB) is never made whole as text, encoded or hashed again for a handful of rows."""
    localidades = v.by_localidad()
    seams = [(name, Markup(_ROWS.format(i))) for i, (name, _) in enumerate(localidades)]
    text = page.render_html(
        "status.html.j2",
        lang,
        view=v,
        states=STATES,
        groups=seams,
        counts=v.counts(),
        zone_map=map_svg(v, lang) if zone_map is None else zone_map,
        causes=CAUSES,
        open_incidents=v.open_incidents(),
        refresh=max(30, int(max_age)),
    ).encode("utf-8")
    split = _SEAM.split(text)  # own text, a localidad's number, own text, ...
    return [
        (split[k], [z.id for z in localidades[int(split[k + 1])][1]] if k + 1 < len(split) else [])
        for k in range(0, len(split), 2)
    ]


def _badge(left: str, right: str, colour: str) -> str:
    """A shields-style badge: ``left`` on grey, ``right`` on ``colour`` (white text on both)."""
    lw, rw = 8 + 7 * len(left), 8 + 7 * len(right)
    label = escape(f"{left}: {right}", {'"': "&quot;"})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + rw}" height="20" role="img" aria-label="{label}">'
        f"<title>{label}</title>"
        f'<rect width="{lw}" height="20" fill="#333333"/>'
        f'<rect x="{lw}" width="{rw}" height="20" fill="{colour}"/>'
        f'<g fill="#ffffff" font-family="DejaVu Sans,Verdana,sans-serif" font-size="11">'
        f'<text x="4" y="14">{escape(left)}</text><text x="{lw + 4}" y="14">{escape(right)}</text></g></svg>'
    )


def badge(z: PublicZone, lang: str) -> str:
    """The zone's current state in words, on the state's colour."""
    return _badge(z.id, gettext(lang)(STATES[z.state].words), STATES[z.state].bg)


Bounds = tuple[float, float, float]  # the least latitude, the least longitude, the scale


def map_bounds(zones: Sequence[PublicZone], width: int = 640, height: int = 420) -> Bounds | None:
    """Where the map's corner is and its scale, from the zones placed (None: no zone is)."""
    placed = [z for z in zones if z.lat or z.lon]
    if not placed:
        return None
    lats, lons = [z.lat for z in placed], [z.lon for z in placed]
    pad, label_room = 24, 64  # room on the right for the label beside the easternmost dot
    span_lat, span_lon = (max(lats) - min(lats)) or 0.01, (max(lons) - min(lons)) or 0.01
    return min(lats), min(lons), min((width - 2 * pad - label_room) / span_lon, (height - 2 * pad) / span_lat)


def map_dot(z: PublicZone, bounds: Bounds, lang: str, height: int = 420) -> str:
    """A zone on the map: a dot in its state's colour, its id beside it, its state in words as a title."""
    if not (z.lat or z.lon):
        return ""
    pad, (lat0, lon0, scale) = 24, bounds
    x, y = pad + (z.lon - lon0) * scale, height - pad - (z.lat - lat0) * scale
    title = escape(f"{z.id} {z.name}: {gettext(lang)(STATES[z.state].words)}")
    return (
        f'<g><title>{title}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{STATES[z.state].bg}" '
        f'stroke="#000000" stroke-width="0.8"/><text x="{x + 9:.1f}" y="{y + 4:.1f}" font-size="13" '
        f'fill="#111111">{escape(z.id)}</text></g>'
    )


def dot_key(z: PublicZone) -> tuple[object, ...]:
    """What ``map_dot`` prints of its zone (a field it comes to print must be named here)."""
    return z.id, z.name, z.lat, z.lon, z.state


def map_svg(v: StatusView, lang: str, dots: Sequence[str] | None = None, width: int = 640, height: int = 420) -> str:
    """The zones placed by their coordinates; ``dots``, each zone's ``map_dot`` when kept (drawn
    within the zones' ``map_bounds``, which are then not computed again)."""
    if dots is None:
        bounds = map_bounds(v.zones, width, height)
        if bounds is None:
            return ""
        dots = [map_dot(z, bounds, lang, height) for z in v.zones]
    label = escape(gettext(lang)("Map of the zones"))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">'
        f'<rect width="{width}" height="{height}" fill="#f4f4f4"/>' + "".join(dots) + "</svg>"
    )


def first_day(v: StatusView) -> datetime:
    """The first day of the page's bars, at its midnight (the same all day: the rows are kept)."""
    today = datetime.fromisoformat(v.generated).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=BAR_DAYS - 1)


def availability_badge(z: PublicZone, lang: str) -> str:
    """The zone's availability within its hours over the last 30 days, as a badge."""
    days = "30 días" if lang == "es" else "30 days"
    if z.last_30 is None:
        return _badge(z.id, f"{days}: {gettext(lang)(STATES['no_data'].words)}", STATES["no_data"].bg)
    return _badge(z.id, f"{days}: {_pct(lang)(z.last_30, 2)}", status_bars.colour(z.last_30))


def _pct(lang: str) -> Callable[..., str]:
    return engine.formats(lang)["pct"]
