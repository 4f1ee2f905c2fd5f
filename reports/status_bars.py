"""A zone's bar of days on the status page: drawn, and drawn again from the first day that changed.

Why: the store's figures are read every 10 minutes, and each read changes today's figure of every
zone: 2,000 zones' bars of 90 days drawn whole, in two languages, were 360,000 titled rects a read.
A bar keeps where each day's rect starts in it, so the next one keeps the text before the first
day whose figure changed (today's, or a past day a late batch touched) and draws the rest.
"""

from __future__ import annotations

import functools
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta

from render import engine
from render.catalogue import gettext
from reports.xmltext import escape

_END = "</svg>"


@dataclass(frozen=True, slots=True)
class Bar:
    first_day: datetime
    days: tuple[float | None, ...]  # daily availability within hours, oldest first
    svg: str
    starts: array[int]  # where each day's rect starts in ``svg``


def colour(avail: float | None) -> str:
    """A day's (or the 30-day badge's) colour by its availability; grey without data."""
    if avail is None:
        return "#b0b0b0"
    return "#1b6e20" if avail >= 0.995 else "#c98a00" if avail >= 0.95 else "#b00020"


def draw(days: tuple[float | None, ...], first_day: datetime, lang: str, before: Bar | None = None) -> Bar:
    """The days as thin bars, each with its date and figure as a title (text for every colour);
    ``before``, the zone's last bar in ``lang``: its rects up to the first day that differs are kept."""
    if before is not None and before.first_day == first_day and before.days == days:
        return before
    if not days:
        return Bar(first_day, days, "", array("I"))
    words = gettext(lang)
    keep = 0
    if before is not None and before.first_day == first_day and len(before.days) == len(days):
        if days[:-1] == before.days[:-1]:  # a read of the store: today's figure changed, one compare
            keep = len(days) - 1
        while days[keep] == before.days[keep]:  # they differ somewhere: the loop ends there
            keep += 1
        parts, starts = [before.svg[: before.starts[keep]]], before.starts[:keep]
    else:
        label = escape(words("Daily availability, last 90 days"))
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {len(days) * 4} 20" class="bar" '
                 f'role="img" aria-label="{label}">']  # fmt: skip
        starts = array("I")
    fmt = engine.formats(lang)["pct"]
    names = _day_names(first_day, len(days))
    at = len(parts[0])
    for k in range(keep, len(days)):
        avail = days[k]
        text = fmt(avail, 1) if avail is not None else words("no data")
        rect = (f'<rect x="{k * 4}" width="3" height="20" fill="{colour(avail)}">'
                f"<title>{names[k]}: {escape(text)}</title></rect>")  # fmt: skip
        starts.append(at)
        parts.append(rect)
        at += len(rect)
    parts.append(_END)
    return Bar(first_day, days, "".join(parts), starts)


@functools.lru_cache(maxsize=4)
def _day_names(first_day: datetime, n: int) -> tuple[str, ...]:
    # The same for every zone's bar of the day: 90 strftime a bar, 2,000 zones a render.
    return tuple((first_day + timedelta(days=k)).strftime("%Y-%m-%d") for k in range(n))
