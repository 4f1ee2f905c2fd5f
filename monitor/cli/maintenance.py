"""Maintenance windows from the command line: add, cancel, list. The running daemon applies them
from its next cycle, no reload; they count out of the SLA exactly as configured windows do."""

from __future__ import annotations

import argparse
import time
import zoneinfo
from datetime import datetime
from typing import TYPE_CHECKING

from kernel.text import printable
from monitor.cli.common import config_arguments, load_config, local_time, operator, record_id, row
from monitor.cli.outages import close_again, guard_closed

if TYPE_CHECKING:
    from store.db import Store


def _when(text: str, tz: zoneinfo.ZoneInfo, what: str) -> float:
    from domain.windows import WindowError

    try:
        value = datetime.fromisoformat(text.strip())
        return (value if value.tzinfo else value.replace(tzinfo=tz)).timestamp()
    except (ValueError, OverflowError):
        raise WindowError(f"{what} {printable(text)!r} is not a date and time such as 2026-03-01 22:00") from None


def cmd_maintenance(args: argparse.Namespace) -> int:
    from domain.corrections import check_late_window
    from domain.windows import check_window
    from store.db import Store

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    tz = conf.timezone
    with Store.opened(conf.store_url(), conf.instance) as store:
        book = store.windows
        if args.action == "add":
            zones = [z.strip() for z in (args.zones or "").split(",") if z.strip()]
            targets = [t.strip() for t in (args.targets or "").split(",") if t.strip()]
            start, end = _when(args.start, tz, "--start"), _when(args.end, tz, "--end")
            known_zones, known_targets = {z.id for z in conf.zones}, {t.id for t in conf.targets}
            reason = check_window(zones, targets, known_zones, known_targets, start, end, args.reason)
            check_late_window(start, end, time.time())
            again = guard_closed(conf, store, start, end, args.refreeze) if start < time.time() else []
            number = book.add(zones, targets, start, end, reason, operator(), time.time())
            print(f"maintenance window {number} added: {', '.join(zones + targets)}, "
                  f"{local_time(start, tz)} to {local_time(end, tz)}: {reason}")  # fmt: skip
            _say_reclassified(store, f"cli-{number}", zones + targets, start, end)
        elif args.action == "cancel":
            book.cancel(args.id, operator(), time.time())
            print(f"maintenance window {args.id} cancelled")
        else:
            now = time.time()
            for w in book.listed(ending_after=None if args.all else now, with_cancelled=args.all):
                state = "cancelled" if w.cancelled_at else ("active" if w.start <= now < w.end else
                                                             "ended" if w.end <= now else "ahead")  # fmt: skip
                covers = ",".join(w.zones + w.targets)
                row(w.id, state, local_time(w.start, tz), local_time(w.end, tz), covers, w.reason, w.created_by)
    if args.action == "add":
        close_again(conf, again)
    return 0


def _say_reclassified(store: Store, name: str, covers: list[str], start: float, end: float) -> None:
    """A window over time already measured is a correction: say how much downtime it makes planned."""
    from domain.availability import Period
    from domain.corrections import PLANNED, Layer, corrected_seconds, overlay

    now = time.time()
    if start >= now:
        return
    layer = Layer(PLANNED, frozenset(covers), start, end, name)
    moved = []
    for target in covers:
        measured = [Period(o.kind, o.started_at, o.ended_at, o.reason)
                    for o in store.outages_between(start, min(end, now), target)]  # fmt: skip
        seconds = corrected_seconds(measured, overlay(target, measured, [layer], now), start, min(end, now))
        if seconds > 0:
            moved.append(f"{target} {seconds / 60:.1f} min")
    if moved:
        print(f"it covers time already measured: downtime now counted as planned: {', '.join(moved)}")
    else:
        print("it covers time already measured: no downtime in it to count as planned")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "maintenance",
        help="maintenance windows without editing the configuration: add, cancel, list",
        description="Windows added here apply from the daemon's next cycle, no reload, and count out of the "
        "SLA as configured windows do. Times are in the configured timezone. Who added or cancelled each "
        "window (the operating-system user) is kept.",
    )
    config_arguments(p)
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    acts.required = True
    a = acts.add_parser("add", help="add a window on zones and/or targets")
    a.add_argument("--zones", help="zone ids, comma-separated (their checks are covered with them)")
    a.add_argument("--targets", help="target ids, comma-separated")
    a.add_argument("--start", required=True, help="e.g. '2026-03-01 22:00'")
    a.add_argument("--end", required=True, help="e.g. '2026-03-02 04:00'")
    a.add_argument("--reason", required=True, help="at most 200 characters")
    a.add_argument("--refreeze", action="store_true", help="a window in a closed month: correct it and close it again")
    c = acts.add_parser("cancel", help="cancel a window (it stops applying at the next cycle)")
    c.add_argument("id", type=record_id)
    ls = acts.add_parser("list", help="windows not over yet (--all: every one, cancelled too)")
    ls.add_argument("--all", action="store_true")
    for q in (a, c, ls):
        config_arguments(q, after_action=True)
    p.set_defaults(func=cmd_maintenance)
