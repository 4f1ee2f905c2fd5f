"""Reports: the month's close (reports, open data, manifest) and the year's action-plan index."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

import config as cfg
from kernel.month import Month
from monitor.cli.common import default_config, load_config, load_plan

if TYPE_CHECKING:
    from pathlib import Path

    from reports.engine import Header
    from store.db import Store


def _report_setup(conf: cfg.Config, output_dir: str | None) -> tuple[cfg.ReportSettings, Path, Header]:
    """The reports settings, the output folder (created) and the document header, for every report command."""
    from pathlib import Path

    from reports.engine import Header

    rs = conf.reports
    out_dir = Path(output_dir or rs.directory or os.path.join(conf.state_dir, "reports"))
    out_dir.mkdir(parents=True, exist_ok=True)
    return rs, out_dir, Header.of(rs)


def cmd_report_month(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from monitor.daemon import store_url
    from reports.close import close_month
    from store.db import Store

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    try:
        asked = Month.parse(args.month)
    except ValueError:
        print(f"--month takes YYYY-MM, not {args.month!r}", file=sys.stderr)
        return 2
    year, month = asked.year, asked.month
    if asked >= Month.of(datetime.now(UTC), conf.timezone):
        print(f"{args.month} has not ended yet ({conf.timezone.key}): only ended months are closed", file=sys.stderr)
        return 2
    rs, out_dir, header = _report_setup(conf, args.output_dir)
    extra: dict[str, bytes] = {}
    if conf.continuity_plan is not None:
        # The month's drills (planned vs run vs missed per service) go with the month's evidence.
        from continuity import report as drill_report
        from continuity.journal import Journal

        plan = load_plan(conf)
        if plan is None:
            return 1
        runs = list(Journal(os.path.join(conf.state_dir, "drills")).runs())
        start, end = Month(year, month).bounds(conf.timezone)
        for lang in [args.lang] if args.lang else list(rs.languages):
            html = drill_report.render_period(plan, runs, start, end, lang=lang)
            extra[f"simulacros-{year:04d}-{month:02d}.{lang}.html"] = html.encode("utf-8")
    store = Store(store_url(conf), conf.instance)
    languages = [args.lang] if args.lang else list(rs.languages)
    formats = args.format.split(",") if args.format else list(rs.formats)
    try:
        store.migrate()
        extra.update(_datacenter_security(conf, store, year, month, languages, formats, header, args.refreeze))
        written = close_month(
            store.reader(),
            list(conf.zones),
            year,
            month,
            conf.timezone,
            str(out_dir),
            languages=languages,
            formats=formats,
            header=header,
            entity=rs.entity,
            contact=rs.contact,
            refreeze=args.refreeze,
            incident_classes=dict(rs.incident_classes),
            extra=extra,
        )
    finally:
        store.close()
    for path in written:
        print(path)
    return 0


# Probes whose targets are data-centre services in the optimisation report (host and node are hosts).
SERVICE_PROBES = frozenset({"icmp", "tcp", "http", "dns", "tls"})


def _datacenter_security(
    conf: cfg.Config,
    store: Store,
    year: int,
    month: int,
    languages: list[str],
    formats: list[str],
    header: Header,
    refreeze: bool,
) -> dict[str, bytes]:
    """The month's data-centre optimisation and digital-security reports, as files for the month's folder."""
    from reports.datacenter import Inventory, Rules
    from reports.datacenter_security import render_month

    dc = conf.datacenter
    hosts = {}
    for t in conf.targets:
        if t.probe in ("host", "node"):
            inv = dc.hosts.get(t.id)
            hosts[t.id] = Inventory() if inv is None else Inventory(inv.vcpus, inv.memory, inv.disk, inv.link, inv.role)
    services = [t.id for t in conf.targets if t.group == "datacenter" and t.probe in SERVICE_PROBES]
    r = dc.rules
    rules = Rules(
        r.underused_cpu_p95, r.underused_memory_p95, r.saturated_p95, r.filesystem_warning_days, r.availability_target
    )
    return render_month(
        store.reader(),
        year,
        month,
        conf.timezone,
        hosts=hosts,
        services=services,
        rules=rules,
        types=conf.security.policy().types,
        languages=languages,
        formats=[x for x in formats if x in ("html", "pdf")],
        header=header,
        refreeze=refreeze,
    )


def cmd_report_plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reports import plan_index

    conf = load_config(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    rs, out_dir, header = _report_setup(conf, args.output_dir)
    lines = [plan_index.PlanLine(x.activity, x.product, x.target, x.responsible, x.evidence) for x in conf.action_plan]
    runs = plan_index.load_runs(Path(conf.state_dir) / "drills" / "journal.jsonl")
    for lang in [args.lang] if args.lang else list(rs.languages):
        path = out_dir / f"plan-{args.year}.{lang}.html"
        path.write_text(plan_index.render(args.year, lines, out_dir, runs, lang=lang, header=header), encoding="utf-8")
        print(path)
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
    r_month.add_argument("--config", "-c", default=default_config(), help="configuration file")
    r_month.add_argument("--month", required=True, help="YYYY-MM, in the configured timezone")
    r_month.add_argument("--lang", choices=["es", "en"], help="one language (default: reports.languages)")
    r_month.add_argument("--format", help="comma list of html,pdf,csv (default: reports.formats)")
    r_month.add_argument("--output-dir", help="default: reports.directory or STATE_DIR/reports")
    r_month.add_argument("--state-dir", help="state directory, overriding state_dir in the file")
    r_month.add_argument(
        "--refreeze",
        action="store_true",
        help="compute the month's snapshot again (after late data, e.g. an operator CSV)",
    )
    r_month.set_defaults(func=cmd_report_month)

    r_plan = rep_sub.add_parser("plan", help="the year's action-plan index: targets, achieved, evidence links")
    r_plan.add_argument("--config", "-c", default=default_config(), help="configuration file")
    r_plan.add_argument("--year", type=int, required=True)
    r_plan.add_argument("--lang", choices=["es", "en"])
    r_plan.add_argument("--output-dir")
    r_plan.add_argument("--state-dir")
    r_plan.set_defaults(func=cmd_report_plan)
