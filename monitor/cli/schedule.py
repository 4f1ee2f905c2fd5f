"""`vigia schedule`: a zone's or a target's operating hours, day by day, before they reach a report."""

from __future__ import annotations

import argparse
import sys

from kernel.month import Month
from monitor.cli.common import config_arguments, load_config, month_arg


def cmd_schedule(args: argparse.Namespace) -> int:
    from domain.schedule import CLOSED, DAY_NAMES, HOLIDAY, Schedule, ranges_words
    from render.catalogue import gettext

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    month: Month = args.month
    zones = {z.id: z.hours for z in conf.zones}
    targets = {t.id: t.schedule for t in conf.targets}
    if args.id not in zones and args.id not in targets:
        print(f"no zone or target {args.id!r} in {conf.file}", file=sys.stderr)
        return 2
    found = zones.get(args.id) or targets.get(args.id)
    schedule = found if found is not None else Schedule.always()
    tz = conf.timezone
    first, after = month.bounds(tz)
    total = schedule.spans(first.timestamp(), after.timestamp(), tz).seconds
    words = gettext(args.lang)
    print(f"{args.id} {month} ({tz.key}): {schedule.plan.describe(args.lang)}")
    day = first.date()
    while day < after.date():
        plan = schedule.day(day)
        seconds = schedule.day_seconds(day, tz)
        ranges = ranges_words(plan.ranges, args.lang) if plan.ranges else ""
        closed = ""
        if not plan.ranges:  # why: the closed day's own words, else the holiday, else the weekday
            why = plan.why(args.lang)
            closed = why if plan.closed is not None else f"{words(CLOSED)}: {why}"
        holiday = f" ({words(HOLIDAY)}: {plan.holiday})" if plan.holiday and plan.ranges else ""
        name = words(DAY_NAMES[day.weekday()])
        print(f"{day.isoformat()}  {name:<10} {seconds / 3600:5.2f} h  {ranges or closed}{holiday}")
        day = day.fromordinal(day.toordinal() + 1)
    print(f"{words('total')}: {total / 3600:.2f} h")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "schedule",
        help="a zone's or target's operating hours, day by day, for a month",
        description="One line a day: date, weekday, scheduled hours, the ranges, and why a day is closed "
        "(holiday, closed day, day of week), then the month's total. Hours are real hours in the configured "
        "timezone (a daylight-saving day has the hours the clock really had).",
    )
    p.add_argument("id", help="zone or target id")
    p.add_argument("--month", required=True, type=month_arg, help="YYYY-MM")
    p.add_argument("--lang", choices=["es", "en"], default="es")
    config_arguments(p)
    p.set_defaults(func=cmd_schedule)
