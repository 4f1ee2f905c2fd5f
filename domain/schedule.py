"""Operating schedules: when a zone or a service is meant to serve, the one rule behind every
availability figure, the SLA verdict, the status page's "cerrada hoy" and the operating-hours metric.

A schedule is a week of ranges (Monday to Sunday, local wall clock, several ranges a day, a range
may run past midnight into the next day and belongs to the day it starts on), what holidays do
(their own ranges, or None: they follow their weekday), and the calendar it follows: a country's
public holidays with their observed dates (the ``holidays`` package), extra holidays and one-off
closed days. The single-string form ``"06:00-22:00"`` means every day, holidays included; the
map form follows the calendar::

    {lun-vie: "07:00-12:00,14:00-19:00", sab: "08:00-13:00", dom: cerrado, festivos: cerrado}

Seconds are real seconds: a range's ends are local times made absolute in the configured timezone,
so a day with a daylight-saving change has the hours the clock really had.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.intervals import Spans
from render.catalogue import gettext, msgid

Range = tuple[int, int]  # minutes from local midnight; end <= start: it ends the next day
DAY = 24 * 60
ALL_DAY: tuple[Range, ...] = ((0, DAY),)

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_DAYS = {
    0: ("lun", "lunes", "mon", "monday"),
    1: ("mar", "martes", "tue", "tuesday"),
    2: ("mie", "miercoles", "wed", "wednesday"),
    3: ("jue", "jueves", "thu", "thursday"),
    4: ("vie", "viernes", "fri", "friday"),
    5: ("sab", "sabado", "sat", "saturday"),
    6: ("dom", "domingo", "sun", "sunday"),
}
DAY_OF = {name: day for day, names in _DAYS.items() for name in names}
HOLIDAY_KEYS = ("festivos", "festivo", "holidays", "holiday")
CLOSED_WORDS = ("cerrado", "cerrada", "closed")
# Words in the catalogue (render/locale): English message ids, es_CO by default.
DAY_WORDS = (msgid("Mon"), msgid("Tue"), msgid("Wed"), msgid("Thu"), msgid("Fri"), msgid("Sat"), msgid("Sun"))
DAY_NAMES = (
    msgid("Monday"), msgid("Tuesday"), msgid("Wednesday"), msgid("Thursday"), msgid("Friday"), msgid("Saturday"),
    msgid("Sunday"),
)  # fmt: skip
HOLIDAYS, HOLIDAY, CLOSED = msgid("holidays"), msgid("holiday"), msgid("closed")
ALWAYS, DAILY, AS_WEEKDAY = (
    msgid("every day, 24 hours"),
    msgid("every day {ranges} (holidays included)"),
    msgid("as their weekday"),
)


class ScheduleError(ValueError):
    """A schedule that cannot be read: the message says which part and why."""


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse_ranges(text: str) -> tuple[Range, ...]:
    """ "07:00-12:00,14:00-19:00" -> ((420, 720), (840, 1140)); "cerrado" -> (); "00:00-24:00" -> all day."""
    if _plain(text) in CLOSED_WORDS:
        return ()
    out: list[Range] = []
    for part in (p.strip() for p in text.split(",")):
        m = _RANGE.match(part)
        if not m:
            raise ScheduleError(f"{part!r} is not a range like '07:00-12:00' (or 'cerrado')")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ScheduleError(f"{part!r} is not a valid time range")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end % DAY and not (start == 0 and end == DAY):
            raise ScheduleError(f"{part!r} is empty: use '00:00-24:00' for the whole day")
        out.append((start, end % DAY if end != DAY else DAY))
    # Ranges of one day may not overlap (an overnight one is measured up to its end the next day).
    spans = sorted((s, e if e > s else e + DAY) for s, e in out)
    for (_, e1), (s2, _) in itertools.pairwise(spans):
        if s2 < e1:
            raise ScheduleError(f"{text!r}: its ranges overlap")
    return tuple(sorted(out))


def parse_days(key: str) -> list[int]:
    """ "lun-vie" -> [0..4]; "sab" -> [5]; "lun,mie" -> [0, 2]; "vie-lun" wraps through the weekend."""
    days: list[int] = []
    for part in (p.strip() for p in _plain(key).split(",")):
        ends = [e.strip() for e in part.split("-")]
        if len(ends) > 2 or any(e not in DAY_OF for e in ends):
            raise ScheduleError(f"{key!r} is not a day or a range of days (lun, mar, mie, jue, vie, sab, dom; lun-vie)")
        first, last = DAY_OF[ends[0]], DAY_OF[ends[-1]]
        day = first
        while True:
            days.append(day)
            if day == last:
                break
            day = (day + 1) % 7
    return days


@dataclass(frozen=True)
class WeekPlan:
    """The ranges of each weekday (Monday first) and of holidays (None: as their weekday)."""

    week: tuple[tuple[Range, ...], ...]
    holidays: tuple[Range, ...] | None = None
    follows_calendar: bool = False  # the map form: holidays and closed days apply

    @classmethod
    def parse(cls, value: str | Mapping[str, str]) -> WeekPlan:
        if isinstance(value, str):
            return cls((parse_ranges(value),) * 7)
        if not isinstance(value, Mapping) or not value:
            raise ScheduleError("hours must be a range ('06:00-22:00') or a map of days to ranges")
        week: list[tuple[Range, ...] | None] = [None] * 7
        holidays: tuple[Range, ...] | None = None
        for key, ranges in value.items():
            if not isinstance(ranges, str):
                raise ScheduleError(f"{key}: {ranges!r} is not a range like '07:00-12:00' or 'cerrado'")
            try:
                parsed = parse_ranges(ranges)
            except ScheduleError as exc:
                raise ScheduleError(f"{key}: {exc}") from None
            if _plain(str(key)) in HOLIDAY_KEYS:
                holidays = parsed
                continue
            for day in parse_days(str(key)):
                if week[day] is not None:
                    raise ScheduleError(f"{key}: {gettext('es')(DAY_NAMES[day])} is given twice")
                week[day] = parsed
        # A day the map does not name is closed: a schedule says when the place opens.
        return cls(tuple(d if d is not None else () for d in week), holidays, True)

    @property
    def always(self) -> bool:
        return all(d == ALL_DAY for d in self.week) and self.holidays in (None, ALL_DAY)

    def describe(self, lang: str = "es") -> str:
        """In words, grouping consecutive days alike: "lun-vie 07:00-12:00, 14:00-19:00; dom cerrado"."""
        w = gettext(lang)
        if not self.follows_calendar and len(set(self.week)) == 1:  # the single-string form
            return w(ALWAYS) if self.always else w(DAILY).format(ranges=ranges_words(self.week[0], lang))
        parts, day = [], 0
        while day < 7:
            last = day
            while last + 1 < 7 and self.week[last + 1] == self.week[day]:
                last += 1
            label = w(DAY_WORDS[day]) if day == last else f"{w(DAY_WORDS[day])}-{w(DAY_WORDS[last])}"
            parts.append(f"{label} {ranges_words(self.week[day], lang)}")
            day = last + 1
        if self.follows_calendar:
            words = w(AS_WEEKDAY) if self.holidays is None else ranges_words(self.holidays, lang)
            parts.append(f"{w(HOLIDAYS)} {words}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {"week": [list(map(list, d)) for d in self.week], "holidays": None if self.holidays is None
                else list(map(list, self.holidays)), "follows_calendar": self.follows_calendar}  # fmt: skip

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> WeekPlan:
        week = body["week"]
        holidays = body.get("holidays")
        assert isinstance(week, list)
        return cls(
            tuple(tuple((int(s), int(e)) for s, e in d) for d in week),
            None if holidays is None else tuple((int(s), int(e)) for s, e in holidays),  # type: ignore[attr-defined]
            bool(body.get("follows_calendar", False)),
        )


def ranges_words(ranges: tuple[Range, ...], lang: str) -> str:
    if not ranges:
        return gettext(lang)(CLOSED)
    return ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in ranges)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class ClosedDay:
    day: date
    reason: str
    zones: frozenset[str] = frozenset()  # none named: every schedule that follows the calendar
    targets: frozenset[str] = frozenset()

    def applies(self, owner: str, follows_calendar: bool) -> bool:
        if self.zones or self.targets:
            return owner in self.zones or owner in self.targets
        return follows_calendar


@dataclass(frozen=True)
class Calendar:
    """Public holidays (a country's, with their observed dates), extra holidays, closed days."""

    country: str = ""  # ISO 3166 code for the ``holidays`` package; "" for none
    extra: Mapping[date, str] = field(default_factory=dict)
    closed: tuple[ClosedDay, ...] = ()

    def holiday(self, day: date) -> str | None:
        """The holiday's name (Spanish, as the package gives it), or None."""
        if day in self.extra:
            return self.extra[day]
        return _country_holidays(self.country, day.year).get(day) if self.country else None

    def holidays_between(self, first: date, last: date) -> list[tuple[date, str]]:
        out, day = [], first
        while day <= last:
            name = self.holiday(day)
            if name:
                out.append((day, name))
            day += timedelta(days=1)
        return out


@functools.lru_cache(maxsize=64)
def _country_holidays(country: str, year: int) -> Mapping[date, str]:
    import holidays  # loaded when a calendar first asks, not by every import of the domain

    try:
        found = holidays.country_holidays(country, years=year, language="es")
    except NotImplementedError:
        found = holidays.country_holidays(country, years=year)
    return dict(found.items())


def check_country(country: str) -> None:
    """ScheduleError naming the country when the ``holidays`` package does not know it."""
    import holidays

    try:
        holidays.country_holidays(country)
    except NotImplementedError:
        raise ScheduleError(f"country {country!r} is not one the holidays package knows (e.g. CO)") from None


@dataclass(frozen=True)
class Day:
    """One day of a schedule: its ranges, and what made it what it is."""

    day: date
    ranges: tuple[Range, ...]
    holiday: str = ""  # the holiday's name, open or not
    closed: str | None = None  # a closed day's reason ("" when it gave none)

    @property
    def closed_because(self) -> str:
        """Why a day with no ranges is closed, in Spanish, when the calendar closed it ("" otherwise)."""
        return self.why("es") if self.closed is not None or (self.holiday and not self.ranges) else ""

    def why(self, lang: str = "es") -> str:
        """Why the day has no ranges ("" when it has some): closed day, holiday, or its weekday."""
        if self.ranges:
            return ""
        if self.closed is not None:
            word = gettext(lang)(CLOSED)
            return f"{word} — {self.closed}" if self.closed else word
        if self.holiday:
            return f"{gettext(lang)(HOLIDAY)} — {self.holiday}"
        return gettext(lang)(DAY_NAMES[self.day.weekday()])


@dataclass(frozen=True)
class Schedule:
    """A week plan, the calendar it follows, and whose it is (closed days may name it)."""

    plan: WeekPlan
    calendar: Calendar = field(default_factory=Calendar)
    owner: str = ""

    @classmethod
    def always(cls) -> Schedule:
        return cls(WeekPlan((ALL_DAY,) * 7))

    @property
    def is_always(self) -> bool:
        closes = any(c.applies(self.owner, self.plan.follows_calendar) for c in self.calendar.closed)
        return self.plan.always and not closes

    def day(self, day: date) -> Day:
        for closed in self.calendar.closed:
            if closed.day == day and closed.applies(self.owner, self.plan.follows_calendar):
                return Day(day, (), closed=closed.reason)
        if self.plan.follows_calendar:
            name = self.calendar.holiday(day)
            if name is not None:
                ranges = self.plan.holidays if self.plan.holidays is not None else self.plan.week[day.weekday()]
                return Day(day, ranges, holiday=name)
        return Day(day, self.plan.week[day.weekday()])

    def spans(self, start: float, end: float, tz: ZoneInfo) -> Spans:
        """The scheduled time within [start, end), in real seconds."""
        if self.is_always:
            return Spans.of([(start, end)])
        first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)  # yesterday's overnight range
        last = datetime.fromtimestamp(end, tz).date()
        pairs, day = [], first
        while day <= last:
            pairs += self._day_pairs(day, tz)
            day += timedelta(days=1)
        return Spans.of(pairs) & Spans.of([(start, end)])

    def day_seconds(self, day: date, tz: ZoneInfo) -> float:
        """Real seconds of the ranges that start on ``day`` (an overnight one counted whole)."""
        return sum(b - a for a, b in self._day_pairs(day, tz))

    def _day_pairs(self, day: date, tz: ZoneInfo) -> list[tuple[float, float]]:
        """The ranges that start on ``day`` as Unix times; one past midnight ends the next day."""
        nxt = day + timedelta(days=1)
        return [(_at(day, s, tz), _at(nxt if e <= s else day, e, tz)) for s, e in self.day(day).ranges]

    def is_open(self, at: datetime, tz: ZoneInfo) -> bool:
        if self.is_always:
            return True
        # Every zone asks every cycle: look at today's ranges and yesterday's (one may run past
        # midnight), not at a span set.
        t, today = at.timestamp(), at.astimezone(tz).date()
        return any(a <= t < b for day in (today - timedelta(days=1), today) for a, b in self._day_pairs(day, tz))


def _at(day: date, minutes: int, tz: ZoneInfo) -> float:
    if minutes >= DAY:
        return datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()
    return datetime.combine(day, time(minutes // 60, minutes % 60), tz).timestamp()
