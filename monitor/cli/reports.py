"""Reports: the month's close (reports, open data, manifest) and the year's action-plan index."""

from __future__ import annotations

import argparse
import sys

from kernel.files import write_atomic
from kernel.month import Month
from monitor.cli.common import config_arguments, load_config, local_time, month_arg, row


def cmd_report_month(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from monitor.jobs import monthclose

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    asked: Month = args.month
    current = Month.of(datetime.now(UTC), conf.timezone)
    if args.preview and (asked > current or args.all_instances or args.refreeze):
        why = "a month that has not begun" if asked > current else "--all-instances or --refreeze (closed months only)"
        print(f"--preview cannot take {why}", file=sys.stderr)
        return 2
    if asked >= current and not args.preview:
        print(
            f"{args.month} has not ended yet ({conf.timezone.key}): only ended months are closed; "
            "--preview shows the month so far",
            file=sys.stderr,
        )
        return 2
    req = monthclose.Request(
        asked,
        languages=[args.lang] if args.lang else None,
        formats=args.format.split(",") if args.format else None,
        output_dir=args.output_dir,
        refreeze=args.refreeze,
    )
    run = monthclose.preview if args.preview else monthclose.close_all if args.all_instances else monthclose.close
    from kernel.progress import Progress

    progress = Progress.for_terminal(quiet=args.quiet)
    for path in run(conf, req, progress):
        print(path)
    return 0


def cmd_report_plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reports import plan_index

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    from monitor.jobs.monthclose import output_dir
    from reports.page import ReportOptions

    out_dir, opts = (
        output_dir(conf, args.output_dir),
        ReportOptions.of(conf.reports, [args.lang] if args.lang else None),
    )
    lines = [plan_index.PlanLine(x.activity, x.product, x.target, x.responsible, x.evidence) for x in conf.action_plan]
    runs = plan_index.load_runs(Path(conf.state_dir) / "drills" / "journal.jsonl")
    for lang in opts.languages:
        path = out_dir / f"plan-{args.year}.{lang}.html"
        html = plan_index.render(args.year, lines, out_dir, runs, lang=lang, header=opts.header)
        write_atomic(path, html.encode("utf-8"))
        print(path)
    return 0


def cmd_report_deliveries(args: argparse.Namespace) -> int:
    """The ledger of the months' deliveries by e-mail: who got which month, or why not yet."""
    from store.db import Store
    from store.deliveries import Deliveries

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    with Store.opened(conf.store_url(), conf.instance) as store:
        for d in Deliveries(store.engine, conf.group).listed(str(args.month) if args.month else None):
            when = local_time(d.sent_at, conf.timezone) if d.sent_at is not None else "-"
            row(d.month, d.recipient, d.state, d.attempts, when, d.message_id, d.last_error)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rep = sub.add_parser("report", help="render reports")
    rep_sub = rep.add_subparsers(dest="what", metavar="KIND")
    rep_sub.required = True
    r_month = rep_sub.add_parser(
        "month",
        help="the month's Zonas Digitales report and open data",
        description=(
            "Compute the month's figures from the store and write the report (HTML, PDF) in each language and "
            "the open-data CSV with its metadata."
        ),
    )
    config_arguments(r_month, state_dir=False)
    r_month.add_argument("--month", required=True, type=month_arg, help="YYYY-MM, in the configured timezone")
    r_month.add_argument("--lang", choices=["es", "en"], help="one language (default: reports.languages)")
    r_month.add_argument("--format", help="comma list of html,pdf,csv (default: reports.formats)")
    r_month.add_argument("--output-dir", help="default: reports.directory or STATE_DIR/reports")
    r_month.add_argument("--state-dir", help="state directory, overriding state_dir in the file")
    r_month.add_argument(
        "--refreeze",
        action="store_true",
        help="compute the month's snapshot again (after late data, e.g. an operator CSV)",
    )
    r_month.add_argument(
        "--all-instances",
        action="store_true",
        help="one report over every instance in the database, from the months each one closed",
    )
    r_month.add_argument(
        "--preview",
        action="store_true",
        help="the month so far (the current month too), marked preliminary on every page, written to "
        "OUTPUT/preliminar: never frozen, never in a manifest, no open data",
    )
    r_month.add_argument("--quiet", "-q", action="store_true", help="no progress on the terminal")
    r_month.set_defaults(func=cmd_report_month)

    r_plan = rep_sub.add_parser("plan", help="the year's action-plan index: targets, achieved, evidence links")
    config_arguments(r_plan, state_dir=False)
    r_plan.add_argument("--year", type=int, required=True)
    r_plan.add_argument("--lang", choices=["es", "en"])
    r_plan.add_argument("--output-dir")
    r_plan.add_argument("--state-dir")
    r_plan.set_defaults(func=cmd_report_plan)

    r_sent = rep_sub.add_parser("deliveries", help="the closed months sent by e-mail: to whom, when, or why not")
    config_arguments(r_sent)
    r_sent.add_argument("--month", type=month_arg, help="YYYY-MM (default: every month)")
    r_sent.set_defaults(func=cmd_report_deliveries)
