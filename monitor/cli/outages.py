"""Outages as measured, and corrections after the fact: list, exclude ID, annotate ID.

A correction never edits or deletes a measured period: it is a record of its own (who, when, why)
that the month's figures lay over the periods (domain.corrections). A month already closed is
refused unless --refreeze, which closes it again with the correction in its files and manifest."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from kernel.month import Month
from monitor.cli.common import config_arguments, load_config, local_time, month_arg, operator, record_id, row

if TYPE_CHECKING:
    import config as cfg
    from store.db import Store


def closed_months(conf: cfg.Config, store: Store, start: float, end: float) -> list[Month]:
    """The months [start, end) touches that are closed already (their figures frozen)."""
    from datetime import datetime

    reader = store.reader(conf.ha_group)
    first = Month.of(datetime.fromtimestamp(start, conf.timezone), conf.timezone)
    last = Month.of(datetime.fromtimestamp(max(start, end - 1), conf.timezone), conf.timezone)
    out, month = [], first
    for _ in range(14):  # a correction spans at most a window's year and a month or two
        if month > last:
            break
        if reader.frozen(str(month), "zones", None) is not None:
            out.append(month)
        month = month.next()
    return out


def guard_closed(conf: cfg.Config, store: Store, start: float, end: float, refreeze: bool) -> list[Month]:
    """The closed months a correction of [start, end) would change: refused without --refreeze
    (InputError, exit 2, nothing stored); with it, the months to close again once it is stored."""
    from kernel.errors import InputError

    closed = closed_months(conf, store, start, end)
    if closed and not refreeze:
        months = ", ".join(str(m) for m in closed)
        raise InputError(
            f"{months} is closed: its reports stand as published; --refreeze corrects it and closes it again"
        )
    return closed


def close_again(conf: cfg.Config, months: list[Month]) -> None:
    """Close each month again from the store, the correction in its figures, files and manifest."""
    from monitor.jobs import monthclose

    for month in months:
        paths = monthclose.close(conf, monthclose.Request(month, refreeze=True))
        print(f"{month} closed again with the correction: {len(paths)} files, {paths[-1]}")


def cmd_outage(args: argparse.Namespace) -> int:
    from store.db import Store

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    with Store.opened(conf.store_url(), conf.instance) as store:
        if args.action == "list":
            return _list(conf, store, args)
        again = _correct(conf, store, args)
    close_again(conf, again)
    return 0


def _list(conf: cfg.Config, store: Store, args: argparse.Namespace) -> int:
    from kernel.errors import InputError

    known = {z.id for z in conf.zones} | {t.id for t in conf.targets}
    if args.zone not in known:
        raise InputError(f"no zone or target {args.zone!r} in the configuration")
    first, after = args.month.bounds(conf.timezone)
    start, end = first.timestamp(), after.timestamp()
    corrections = store.corrections.between(start, end)
    for o in store.outages_between(start, end, args.zone):
        marks = [f"{c.name} {c.action}" for c in corrections
                 if c.target == o.target and c.start == o.started_at and c.end == o.ended_at]  # fmt: skip
        minutes = "" if o.ended_at is None else f"{(o.ended_at - o.started_at) / 60:.1f}"
        until = "abierta" if o.ended_at is None else local_time(o.ended_at, conf.timezone)
        row(o.id, o.kind, local_time(o.started_at, conf.timezone), until, minutes, o.reason, "; ".join(marks))
    return 0


def _correct(conf: cfg.Config, store: Store, args: argparse.Namespace) -> list[Month]:
    from domain.corrections import ANNOTATE, CorrectionError, check_correction

    o = store.outage(args.id)
    if o is None:
        raise CorrectionError(f"no outage {args.id} for instance {conf.instance!r} (vigia outage list shows them)")
    cause = getattr(args, "cause", "") or ""
    text = check_correction(args.id, o.kind, o.ended_at, args.action, args.reason if args.action != ANNOTATE
                            else args.text, cause)  # fmt: skip
    again = guard_closed(conf, store, o.started_at, o.ended_at, args.refreeze)
    measured = f"{o.kind} {o.reason}".strip()
    number = store.corrections.add(o.target, o.started_at, o.ended_at, args.action, cause, text, measured,
                                   operator(), time.time())  # fmt: skip
    span = f"{local_time(o.started_at, conf.timezone)} to {local_time(o.ended_at, conf.timezone)}"
    did = "excluded from the downtime" if args.action != ANNOTATE else f"annotated: cause {cause}"
    print(f"correction corr-{number}: outage {args.id} of {o.target}, {span}, {did} (the measured period is kept)")
    return again


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "outage",
        help="outages as measured, and corrections after the fact: list, exclude ID, annotate ID",
        description="A correction is kept with who made it (the operating-system user), when and why, is "
        "listed in the month's report and open data, and never changes the measured period. A closed "
        "month is refused unless --refreeze, which closes it again.",
    )
    config_arguments(p)
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    acts.required = True
    ls = acts.add_parser("list", help="a zone's or target's periods of a month, with their ids and corrections")
    ls.add_argument("--zone", required=True, help="a zone or target id")
    ls.add_argument("--month", required=True, type=month_arg, help="YYYY-MM")
    ex = acts.add_parser("exclude", help="take an outage out of the downtime (a monitoring fault, a false positive)")
    ex.add_argument("id", type=record_id)
    ex.add_argument("--reason", required=True, help="why (at most 500 characters)")
    an = acts.add_parser("annotate", help="give an outage its cause and a note")
    an.add_argument("id", type=record_id)
    an.add_argument("--cause", required=True, help="energia, isp, equipo, vandalismo or otro")
    an.add_argument("--text", required=True, help="what happened (at most 500 characters)")
    for q in (ex, an):
        q.add_argument("--refreeze", action="store_true", help="correct a closed month and close it again")
    for q in (ls, ex, an):
        config_arguments(q, after_action=True)
    p.set_defaults(func=cmd_outage)
