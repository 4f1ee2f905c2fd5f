"""Incidents from the command line: open, update, close, list (shown on the status page)."""

from __future__ import annotations

import argparse
import time

from monitor.cli.common import config_arguments, load_config, local_time, operator, record_id, row


def cmd_incident(args: argparse.Namespace) -> int:
    from domain.incidents import CAUSES, check_new
    from render.catalogue import gettext
    from store.db import Store

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    with Store.opened(conf.store_url(), conf.instance) as store:
        book, now, who = store.incidents, time.time(), operator()

        def stamp(at: float) -> str:
            return local_time(at, conf.timezone)

        if args.action == "open":
            zones = [z.strip() for z in args.zones.split(",") if z.strip()]
            title, cause, ticket = check_new(zones, {z.id for z in conf.zones}, args.title, args.cause, args.ticket)
            number = book.open(zones, title, cause, ticket, who, now)
            print(f"incident {number} opened: {', '.join(zones)}: {title} ({gettext('es')(CAUSES[cause])})")
        elif args.action == "update":
            book.update(args.id, args.text, who, now)
            print(f"incident {args.id} updated")
        elif args.action == "close":
            book.close(args.id, who, now, args.text or "")
            print(f"incident {args.id} closed")
        else:
            for inc in book.listed(open_only=not args.all):
                state = "open" if inc.open else "closed"
                ticket = f" [{inc.ticket}]" if inc.ticket else ""
                row(inc.id, state, stamp(inc.opened_at), ",".join(inc.zones), inc.cause, inc.title + ticket)
                if not args.verbose:
                    continue
                for ev in inc.events[1:]:
                    row("", stamp(ev.at), ev.by, ev.kind, ev.text)
                # The outages it is linked to: its zones' down periods that overlap it.
                periods = store.reader().periods(inc.zones, inc.opened_at, inc.closed_at or now)
                for zone, found in periods.items():
                    for p in (p for p in found if p.kind == "down"):
                        end = stamp(p.end) if p.end is not None else "ongoing"
                        row("", "outage", zone, f"{stamp(p.start)} - {end}", p.reason)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from domain.incidents import CAUSES

    p = sub.add_parser(
        "incident",
        help="incidents: open, update, close, list (shown on the public status page)",
        description="An operator's word on why zones are down, shown on the status page. Every change is kept "
        "with the operating-system user and the time.",
    )
    config_arguments(p)
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    acts.required = True
    o = acts.add_parser("open", help="open an incident on zones")
    o.add_argument("--zones", required=True, help="zone ids, comma-separated: ZD-01,ZD-02")
    o.add_argument("--title", required=True, help="what happened, for the public (at most 200 characters)")
    o.add_argument("--cause", required=True, choices=sorted(CAUSES))
    o.add_argument("--ticket", default="", help="the ticket in the office's help desk")
    u = acts.add_parser("update", help="add an update to an open incident")
    u.add_argument("id", type=record_id)
    u.add_argument("--text", required=True, help="at most 2,000 characters")
    c = acts.add_parser("close", help="close an open incident")
    c.add_argument("id", type=record_id)
    c.add_argument("--text", help="a closing note")
    ls = acts.add_parser("list", help="the open incidents (--all: every one)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument(
        "--verbose", "-v", action="store_true", help="with each update, who made it, and the outages it overlaps"
    )
    for q in (o, u, c, ls):
        config_arguments(q, after_action=True)
    p.set_defaults(func=cmd_incident)
