"""Each zone's parts of the public status page (its public view, JSON, rows, badges, map dot), kept
between renders and made again only when what the public sees of that zone changed.

Why: the page was rendered whole after every cycle, 364 ms of CPU at 2,000 zones (most of it the
rows and their 90-day bars), although a cycle changes a handful of zones. A zone's parts depend on
its state, since when, the measured cause, today's schedule and its history, and nothing else; the
page around them (counts, incidents, maintenance, the map's frame) is cheap and made each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.zone_state import ZoneState
from domain.zones import Zone
from reports import status_bars, status_json
from reports import status_page as sp


@dataclass(frozen=True, slots=True)
class ZoneParts:
    zone: sp.PublicZone
    first_day: datetime  # the bars' first day: the rows change with it at midnight
    bars: dict[str, status_bars.Bar]  # by language: the bar of days, the bulk of a row
    frames: tuple[
        tuple[object, ...], dict[str, sp.RowFrame]
    ]  # what they show, the rows' text around the bar by language
    badges: dict[str, bytes]
    availability: dict[str, bytes]
    days: status_json.DaysText  # the days as the JSON writes them, kept like the bars


@dataclass(frozen=True, slots=True)
class Kept:
    """The zones' parts of one document (the JSON, the page in a language), as bytes joined into
    it, and each part's SHA-256 (its ETag is made of them), by zone id."""

    parts: dict[str, bytes] = field(default_factory=dict)
    digests: dict[str, bytes] = field(default_factory=dict)

    def put(self, zone: str, part: bytes) -> None:
        self.parts[zone], self.digests[zone] = part, hashlib.sha256(part).digest()

    def drop(self, zone: str) -> None:
        self.parts.pop(zone, None)
        self.digests.pop(zone, None)


class StatusParts:
    """The kept parts, by zone id. Not thread-safe: one renderer uses it."""

    def __init__(self, langs: tuple[str, ...]) -> None:
        self.langs = langs
        self._seen: dict[str, tuple[Zone, Any, date, sp.History | None, sp.PublicZone]] = {}
        self._parts: dict[str, ZoneParts] = {}
        self.json = Kept()
        self.rows = {lang: Kept() for lang in langs}
        # By language: the map's frame, its zones' ids, the public views its dots were drawn from
        # and those dots (in order), the map.
        self._maps: dict[str, tuple[sp.Bounds, tuple[str, ...], list[sp.PublicZone], list[str], str]] = {}
        self._today: tuple[datetime, date] | None = None
        self._frame: tuple[sp.StatusView, sp.Bounds | None] | None = None
        self.ids: tuple[str, ...] = ()  # the zones shown, in order, as ``keep_only`` last saw them
        self.made = 0  # zones whose parts were made again, in all (what a test of "only the changed" reads)

    def zone_view(self, now: datetime, tz: ZoneInfo) -> sp.ZoneView:
        """For ``status_page.view`` at ``now``: each zone's public view, kept while what makes it
        is the same."""
        self._today = (now, now.astimezone(tz).date())
        return self._zone

    def keep_only(self, v: sp.StatusView) -> None:
        """Forget the zones a reload removed (looked for only when the zones shown changed)."""
        ids = tuple(z.id for z in v.zones)
        if ids == self.ids:
            return
        self.ids, shown = ids, set(ids)
        for gone in [k for k in self._parts if k not in shown]:
            del self._parts[gone]
            for kept in (self.json, *self.rows.values()):
                kept.drop(gone)
        for gone in [k for k in self._seen if k not in shown]:
            del self._seen[gone]

    def _zone(
        self, zone: Zone, st: ZoneState | None, now: datetime, tz: ZoneInfo, h: sp.History | None
    ) -> sp.PublicZone:
        assert self._today is not None and self._today[0] is now
        day = self._today[1]
        key = None if st is None else (st.status, st.since, st.last.reason if st.last is not None else None)
        seen = self._seen.get(zone.id)
        same_history = seen is not None and (seen[3] is h or seen[3] == h)
        if seen is not None and seen[0] is zone and seen[1] == key and seen[2] == day and same_history:
            return seen[4]
        public = sp.public_zone(zone, st, now, tz, h)
        self._seen[zone.id] = (zone, key, day, h, public)
        return public

    def all_of(self, zones: Sequence[sp.PublicZone], first_day: datetime) -> list[ZoneParts]:
        """Every zone's parts, in order, made again for a zone that changed since they were made:
        one whose public view is the very object its parts were made from costs a lookup."""
        kept, out = self._parts, []
        for z in zones:
            have = kept.get(z.id)
            if have is None or not (have.zone is z or have.zone == z) or have.first_day != first_day:
                have = self._made(z, first_day, have)
            out.append(have)
        return out

    def _made(self, z: sp.PublicZone, first_day: datetime, have: ZoneParts | None) -> ZoneParts:
        self.made += 1
        # A change of state leaves the days as they were (the bars are the last ones); a read of
        # the store changes today's figure (the bars are drawn again from there).
        bars = {
            lang: status_bars.draw(z.days, first_day, lang, have.bars[lang] if have else None) for lang in self.langs
        }
        # A read of the store changes the days and the 30-day figure, not the rest of the row.
        key = sp.row_frame_key(z)
        frames = (
            have.frames
            if have and have.frames[0] == key
            else (key, {lang: sp.row_frame(z, lang) for lang in self.langs})
        )
        for lang in self.langs:
            row = sp.zone_row(z, first_day, lang, bars[lang].svg, frames[1][lang])
            self.rows[lang].put(z.id, row.encode("utf-8"))
        days = status_json.days_text(z.days, have.days if have else None)
        self.json.put(z.id, status_json.zone_json(z, days).encode("utf-8"))
        made = ZoneParts(
            z,
            first_day,
            bars,
            frames,
            # A badge says the state, the other the 30-day figure: each kept while what it says is.
            have.badges if have and have.zone.state == z.state else
            {lang: sp.badge(z, lang).encode("utf-8") for lang in self.langs},
            have.availability if have and have.zone.last_30 == z.last_30 else
            {lang: sp.availability_badge(z, lang).encode("utf-8") for lang in self.langs},
            days,
        )  # fmt: skip
        self._parts[z.id] = made
        return made

    def zone_map(self, v: sp.StatusView, lang: str) -> str:
        """The map of ``v`` (after ``keep_only(v)``): while its frame and its zones are the same,
        only the dots of zones whose public view is another object (``_zone`` keeps it while nothing
        it shows changed) showing another dot (a read of the store makes every view anew, not its
        dot) are drawn again."""
        frame = self._frame
        if frame is None or frame[0] is not v:  # once per view, not per language
            frame = self._frame = (v, sp.map_bounds(v.zones))
        bounds, ids = frame[1], self.ids
        if bounds is None:
            return ""
        kept = self._maps.get(lang)
        if kept is None or kept[0] != bounds or kept[1] != ids:
            drawn_for, dots = list(v.zones), [sp.map_dot(z, bounds, lang) for z in v.zones]
        else:
            _, _, drawn_for, dots, drawn = kept
            moved = False
            for k, z in enumerate(v.zones):
                if drawn_for[k] is not z:
                    if sp.dot_key(drawn_for[k]) != sp.dot_key(z):
                        dots[k], moved = sp.map_dot(z, bounds, lang), True
                    drawn_for[k] = z
            if not moved:
                return drawn
        drawn = sp.map_svg(v, lang, dots)
        self._maps[lang] = (bounds, ids, drawn_for, dots, drawn)
        return drawn
