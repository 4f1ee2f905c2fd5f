"""The status page's parts kept between renders read exactly as the same parts made whole: a zone's
JSON with its days kept, text escaped by the fast path, a map dot kept while what it prints is."""

from __future__ import annotations

import dataclasses
import json
from xml.sax.saxutils import escape as sax_escape

from hypothesis import example, given, settings
from hypothesis import strategies as st

from kernel.text import xml_safe
from reports import status_json
from reports.status_page import STATES, PublicZone, dot_key, map_dot
from reports.xmltext import _NO_BIDI, escape

day = st.none() | st.floats(0.0, 1.0)
days = st.lists(day, max_size=6).map(tuple)
text = st.text(max_size=12)
zones = st.builds(
    PublicZone,
    id=text, name=text, barrio=text, localidad=text,
    lat=st.floats(10.3, 10.5), lon=st.floats(-75.6, -75.4),
    state=st.sampled_from(sorted(STATES)),
    since=st.none() | text, days=days, last_30=day,
    closed_today=st.none() | st.dictionaries(st.sampled_from(["es", "en"]), text), cause=st.none() | text,
)  # fmt: skip


def whole(z: PublicZone) -> str:
    return json.dumps({f.name: getattr(z, f.name) for f in dataclasses.fields(z)}, ensure_ascii=False)


@settings(max_examples=300, deadline=None)
@given(zones, days, st.booleans())
@example(PublicZone("ZD-01", "Zona", "B", "L", 10.4, -75.5, "up", None, (0.5, None, float("nan"))), (0.5,), True)
def test_a_zones_json_with_its_days_kept_is_json_dumps_of_the_zone(
    z: PublicZone, later: tuple, same_past: bool
) -> None:
    first = status_json.days_text(z.days)
    assert status_json.zone_json(z, first) == status_json.zone_json(z) == whole(z)
    # A read of the store later: today's figure changed (the past kept), or any day changed.
    after = dataclasses.replace(z, days=(z.days[:-1] + later[-1:]) if same_past else later)
    kept = status_json.days_text(after.days, first)
    assert status_json.zone_json(after, kept) == whole(after)


@settings(max_examples=500, deadline=None)
@given(st.text(), st.sampled_from([None, {'"': "&quot;"}, {"'": "&apos;", '"': "&quot;"}]))
@example("ZD-01 Zona Norte: en servicio", None)
@example("a\u202eb & <c>\x1b\ufffe", {'"': "&quot;"})
def test_text_escaped_by_the_fast_path_reads_as_the_three_passes(value: str, entities: dict[str, str] | None) -> None:
    assert escape(value, entities) == sax_escape(xml_safe(value).translate(_NO_BIDI), entities or {})


@settings(max_examples=300, deadline=None)
@given(zones, zones, st.sampled_from([f.name for f in dataclasses.fields(PublicZone)]), st.sampled_from(["es", "en"]))
def test_a_map_dot_kept_by_its_key_is_the_dot_drawn_again(
    z: PublicZone, other: PublicZone, field: str, lang: str
) -> None:
    # One field taken from another zone: while dot_key says the same, the dot must read the same.
    changed = dataclasses.replace(z, **{field: getattr(other, field)})
    bounds = (10.3, -75.6, 1000.0)
    if dot_key(changed) == dot_key(z):
        assert map_dot(changed, bounds, lang) == map_dot(z, bounds, lang)
