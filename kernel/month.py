"""A calendar month, its bounds computed in one place: the configured timezone decides where a
month begins, UTC is only how instants are stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9998:
            raise ValueError(f"no month {self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2025-03' -> Month(2025, 3); ValueError naming the text otherwise."""
        try:
            year, month = (int(x) for x in text.split("-"))
            return cls(year, month)
        except ValueError:
            raise ValueError(f"a month is written YYYY-MM, not {text!r}") from None

    @classmethod
    def of(cls, at: datetime | date, tz: ZoneInfo | None = None) -> Month:
        """The month that holds ``at`` (an aware datetime is first seen in ``tz``)."""
        if isinstance(at, datetime) and tz is not None:
            at = at.astimezone(tz)
        return cls(at.year, at.month)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def next(self) -> Month:
        return self.shift(1)

    def previous(self) -> Month:
        return self.shift(-1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def start(self, tz: ZoneInfo) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=tz)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first instant after the month: the next month's start."""
        return self.next().start(tz)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        return self.start(tz), self.end(tz)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def day_bounds(day: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day containing ``day``."""
    local = day.astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    return start, start + timedelta(days=1)
