"""Charts: zones named while a reader can read them; a large inventory drawn without a label each."""

from __future__ import annotations

import re

from reports import charts


def points(n: int) -> list[tuple[str, float, float, float | None]]:
    return [
        (f"ZD-{i:04d}", 10.40 + i * 1e-4, -75.50 + i * 1e-4, None if i % 9 == 0 else 0.9 + (i % 10) / 100)
        for i in range(n)
    ]


def named(svg: str) -> set[str]:
    # matplotlib writes each text element's string as an SVG comment before its glyph paths.
    return set(re.findall(r"<!-- (ZD-\d{4}) -->", svg))


def test_a_small_inventory_names_every_zone_on_the_map_and_the_bars() -> None:
    ps = points(32)
    assert named(charts.zone_map(ps, "Disponibilidad", "sin datos")) == {p[0] for p in ps}
    assert named(charts.bars([p[0] for p in ps], [p[3] for p in ps], "Disponibilidad", 0.95)) == {p[0] for p in ps}


def test_a_large_inventory_is_drawn_without_a_label_per_zone() -> None:
    ps = points(charts.LABELLED_MAX + 400)
    small = charts.zone_map(points(32), "Disponibilidad", "sin datos")
    large = charts.zone_map(ps, "Disponibilidad", "sin datos")
    assert named(large) == set()
    assert len(large) < 6 * len(small)  # one scatter, not 500 labelled markers
    ranked = charts.bars([p[0] for p in ps], [p[3] for p in ps], "Disponibilidad", 0.95)
    assert named(ranked) == set()
    assert ranked.count("<path") < 50  # one filled curve and the axes, not 500 bars


def test_a_large_inventorys_markers_are_one_picture_drawn_the_same_each_time() -> None:
    # Past LABELLED_MAX the map's markers are one embedded PNG (200 dpi), not a <use> element a
    # zone: WeasyPrint drew 1,000 of those in 3.5 s of the month close, the picture in 0.6 s.
    # The axes, title and legend stay vector; a small inventory's markers stay vector.
    large = charts.zone_map(points(1000), "Disponibilidad", "sin datos")
    assert large.count("data:image/png;base64,") == 1
    assert large.count("<use ") < 300  # glyphs, ticks and the legend's marker, not 1,000 markers
    assert "Disponibilidad" in large or "<!-- Disponibilidad -->" in large
    assert large == charts.zone_map(points(1000), "Disponibilidad", "sin datos")  # byte for byte
    assert "data:image/png" not in charts.zone_map(points(32), "Disponibilidad", "sin datos")
