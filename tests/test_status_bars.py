"""A zone's bar of days drawn again from the first day that changed reads exactly as one drawn whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from reports import status_bars

FIRST = datetime(2026, 9, 8, tzinfo=ZoneInfo("America/Bogota"))
day = st.none() | st.floats(0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(day, min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 11), day), max_size=4),
    st.sampled_from(["es", "en"]),
    st.integers(0, 1),
)
def test_a_bar_drawn_again_from_its_first_changed_day_is_the_whole_drawing(
    days: list[float | None], changes: list[tuple[int, float | None]], lang: str, shift: int
) -> None:
    before = status_bars.draw(tuple(days), FIRST, lang)
    after = list(days)
    for k, value in changes:  # today's figure read again, a past day a late batch touched
        after[k % len(after)] = value
    first = FIRST + timedelta(days=shift)  # midnight: every rect moves a day
    kept = status_bars.draw(tuple(after), first, lang, before)
    assert kept == status_bars.draw(tuple(after), first, lang)
    assert [kept.svg[s : s + 5] for s in kept.starts] == ["<rect"] * len(after)


def test_each_day_reads_its_date_and_figure_and_unchanged_days_give_the_same_bar() -> None:
    days = (0.999, None, 0.5, 0.97)
    before = status_bars.draw(days, FIRST, "es")
    assert "<title>2026-09-08: 99,9 %</title>" in before.svg and "2026-09-09: sin datos" in before.svg
    assert status_bars.draw(days, FIRST, "es", before) is before  # nothing changed: the same bar
    today = status_bars.draw((*days[:3], 0.9), FIRST, "es", before)
    assert today.svg.startswith(before.svg[: before.starts[3]])
    assert today.svg.endswith("<title>2026-09-11: 90,0 %</title></rect></svg>")
