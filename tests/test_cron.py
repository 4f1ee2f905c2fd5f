"""Crontab days of the week as cron(8) counts them (APScheduler 3 alone counts from Monday)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kernel.cron import crontab_trigger, day_of_week

TZ = ZoneInfo("America/Bogota")
TUESDAY = datetime(2026, 3, 3, 10, 0, tzinfo=TZ)


def fires(line: str, n: int = 7) -> list[str]:
    trigger, at, out = crontab_trigger(line, TZ), TUESDAY, []
    for _ in range(n):
        nxt = trigger.get_next_fire_time(None, at)
        assert nxt is not None
        out.append(nxt.strftime("%a %d"))
        at = nxt.replace(second=1)
    return out


@pytest.mark.parametrize(
    ("line", "days"),
    [
        ("0 2 * * 0", ["Sun 08", "Sun 15"]),
        ("0 2 * * 7", ["Sun 08", "Sun 15"]),
        ("0 2 * * sun", ["Sun 08", "Sun 15"]),
        ("0 2 * * 1-5", ["Wed 04", "Thu 05", "Fri 06", "Mon 09", "Tue 10"]),
        ("0 2 * * 0,6", ["Sat 07", "Sun 08", "Sat 14"]),
        ("0 2 * * 5-7", ["Fri 06", "Sat 07", "Sun 08", "Fri 13"]),
        ("0 2 * * */3", ["Wed 04", "Sat 07", "Sun 08", "Wed 11"]),
    ],
)
def test_days_of_the_week_are_crons(line: str, days: list[str]) -> None:
    assert fires(line, len(days)) == days


def test_fields_spelled_out_and_bad_days_refused() -> None:
    assert day_of_week("0-2") == "sun,mon,tue"
    assert day_of_week("1/2") == "mon,wed,fri"
    assert day_of_week("mon-fri") == "mon-fri"
    for bad in ("8", "1-9", "*/0"):
        with pytest.raises(ValueError):
            day_of_week(bad)
    with pytest.raises(ValueError, match="Wrong number of fields"):
        crontab_trigger("0 2 * *", TZ)


def test_fire_times_in_a_period_bounded_and_with_or_without_its_end() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from kernel.cron import crontab_trigger, fire_times

    tz = ZoneInfo("America/Bogota")
    hourly = crontab_trigger("0 * * * *", tz)
    start, end = datetime(2026, 3, 1, 0, 0, tzinfo=tz), datetime(2026, 3, 1, 3, 0, tzinfo=tz)
    assert [f.hour for f in fire_times(hourly, start, end)] == [0, 1, 2]
    assert [f.hour for f in fire_times(hourly, start, end, inclusive=True)] == [0, 1, 2, 3]
    assert len(fire_times(hourly, start, datetime(2027, 3, 1, tzinfo=tz), limit=50)) == 50
    assert fire_times(hourly, None, end) == []
