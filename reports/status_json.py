"""The status page's JSON (``/status.json``): each zone's part, and the document around them.

The same allow-listed view as the page (reports.status_page): what a citizen may see, nothing more.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from reports.status_page import PublicZone, Segments, StatusView

_NAMES = tuple(f.name for f in fields(PublicZone))
_HEAD, _TAIL = _NAMES[: _NAMES.index("days")], _NAMES[_NAMES.index("days") + 1 :]


@dataclass(frozen=True, slots=True)
class DaysText:
    """A zone's days as JSON, kept with the days before today: every read of the store (every 10
    minutes, every zone) changes today's figure, and 2,000 zones' 90 figures written again were
    most of a redraw's CPU."""

    past: tuple[float | None, ...]  # the days but the last
    opening: str  # the JSON of ``past`` without its closing bracket
    text: str  # the JSON of every day


def days_text(days: tuple[float | None, ...], before: DaysText | None = None) -> DaysText:
    """``days`` as JSON (json.dumps's own text), ``before``'s days but the last kept as written."""
    past = days[:-1]
    opening = before.opening if before is not None and before.past == past else json.dumps(past)[:-1]
    if not days:
        return DaysText(past, opening, "[]")
    return DaysText(past, opening, opening + (", " if past else "") + json.dumps(days[-1]) + "]")


def zone_json(z: PublicZone, days: DaysText | None = None) -> str:
    """The zone's part of the JSON: json.dumps of its fields in order (``days``: its days as
    ``days_text`` wrote them for it)."""
    days = days_text(z.days) if days is None else days
    # Its fields as they are, not asdict's deep copy: json writes a tuple as a list.
    head = json.dumps({k: getattr(z, k) for k in _HEAD}, ensure_ascii=False)
    tail = json.dumps({k: getattr(z, k) for k in _TAIL}, ensure_ascii=False)
    return f'{head[:-1]}, "days": {days.text}, {tail[1:]}'


JSON_BETWEEN = b", "  # between two zones' parts in the JSON (none in the HTML)


def to_json(v: StatusView) -> bytes:
    """The page as JSON, whole (every zone's part made here)."""
    made = {z.id: zone_json(z).encode("utf-8") for z in v.zones}
    return b"".join(text + JSON_BETWEEN.join(made[i] for i in ids) for text, ids in json_segments(v))


def json_segments(v: StatusView) -> Segments:
    """The JSON as segments: its zones' parts (each ``zone_json``, UTF-8) go between its head and tail."""
    head = {"title": v.title, "generated": v.generated, "timezone": v.tz, "counts": v.counts()}
    tail = {"incidents": [asdict(i) for i in v.incidents], "maintenance": [asdict(w) for w in v.maintenance]}
    return [
        ((json.dumps(head, ensure_ascii=False)[:-1] + ', "zones": [').encode("utf-8"), [z.id for z in v.zones]),
        (("], " + json.dumps(tail, ensure_ascii=False)[1:]).encode("utf-8"), []),
    ]


def stamp(v: StatusView) -> bytes:
    """The JSON's one field that changes when nothing else did (when it was made), as it is written."""
    return json.dumps({"generated": v.generated})[1:-1].encode("utf-8")
