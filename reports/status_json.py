"""The status page's JSON (``/status.json``): each zone's part, and the document around them.

The same allow-listed view as the page (reports.status_page): what a citizen may see, nothing more.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields

from reports.status_page import PublicZone, Segments, StatusView


def zone_json(z: PublicZone) -> str:
    # Its fields as they are, not asdict's deep copy (90 days a zone): json writes a tuple as a list.
    return json.dumps({f.name: getattr(z, f.name) for f in fields(z)}, ensure_ascii=False)


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
