"""Crontab lines as cron(8) reads them, for APScheduler.

APScheduler 3's ``CronTrigger.from_crontab`` counts the day of the week from Monday (0 = Monday),
so ``0 2 * * 0`` — Sunday at 02:00 for cron and for every operator — fired on Mondays. Numeric days
of the week are turned into names (0 and 7 = sun ... 6 = sat) before APScheduler sees them;
ranges and steps are spelled out day by day, so ``0-2`` stays Sunday to Tuesday.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _day(text: str) -> int:
    if not text.isdigit() or int(text) > 7:
        raise ValueError(f"day of week {text!r} is not 0-7 (0 and 7 are Sunday)")
    return int(text)


def day_of_week(field: str) -> str:
    """A crontab day-of-week field with every number as a day name, as APScheduler reads it."""
    out: list[str] = []
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"step {step_text!r} in the day of week is not a positive number")
        if body == "*":
            if step is None:
                out.append("*")
                continue
            lo, hi = 0, 6
        elif "-" in body:
            first, _, last = body.partition("-")
            if not (first.isdigit() and last.isdigit()):
                out.append(part)  # names: APScheduler reads them as cron does
                continue
            lo, hi = _day(first), _day(last)
        elif body.isdigit():
            lo = _day(body)
            hi = 6 if step is not None else lo  # "1/2": from Monday, every other day
        else:
            out.append(part)
            continue
        out.extend(_DAYS[d] for d in range(lo, hi + 1, step or 1))
    return ",".join(dict.fromkeys(out))


def crontab_trigger(line: str, tz: tzinfo) -> CronTrigger:
    """``minute hour day month day_of_week``, with cron's days of the week. ValueError if invalid."""
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"Wrong number of fields; got {len(fields)}, expected 5")  # as APScheduler says it
    return CronTrigger.from_crontab(" ".join([*fields[:4], day_of_week(fields[4])]), timezone=tz)


def fire_times(
    trigger: BaseTrigger, first: datetime | None, end: datetime, *, inclusive: bool = False, limit: int = 10_000
) -> list[datetime]:
    """The times ``trigger`` fires from ``first`` (its first fire at or after it; none without
    one) up to ``end`` (excluded, or included with ``inclusive``), at most ``limit`` of them: a
    schedule's planned runs in a period, or the runs a daemon missed while it was down."""
    out: list[datetime] = []
    fire = None if first is None else trigger.get_next_fire_time(None, first)
    while fire is not None and (fire <= end if inclusive else fire < end) and len(out) < limit:
        out.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return out
