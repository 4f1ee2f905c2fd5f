"""The month close, one service: the Zonas Digitales report and open data, the data-centre and
digital-security reports, the month's drills, and the folder's manifest.

`vigia report month` calls it in its own process; the daemon runs it in a child process
(``python -m monitor.jobs.monthclose``, started by monitor.jobs.month) because report rendering
(matplotlib, WeasyPrint) is heavy and its memory should not stay with the long-running daemon:
the daemon never imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import config as cfg
from continuity import plan as continuity_plan
from continuity import report as drill_report
from continuity.journal import Journal
from kernel.errors import VigiaError
from kernel.files import writing
from kernel.month import Month
from kernel.progress import NOBODY, Progress
from reports import rollup
from reports.close import close_month, month_files, publish
from reports.close import preview as close_preview
from reports.datacenter import Inventory, Rules
from reports.datacenter_security import render_month
from reports.page import ReportOptions
from store.db import Store

# Probes whose targets are data-centre services in the optimisation report (host and node are hosts).
SERVICE_PROBES = frozenset({"icmp", "tcp", "http", "dns", "tls"})


@dataclass(frozen=True)
class Request:
    """What to close and how; None: the configuration's reports settings."""

    month: Month
    languages: list[str] | None = None
    formats: list[str] | None = None
    output_dir: str | None = None
    refreeze: bool = False

    def options(self, conf: cfg.Config) -> ReportOptions:
        return ReportOptions.of(conf.reports, self.languages, self.formats)


def output_dir(conf: cfg.Config, asked: str | None) -> Path:
    """Where reports go (created): the asked folder, reports.directory, or STATE_DIR/reports."""
    out = Path(asked or conf.reports.directory or os.path.join(conf.state_dir, "reports"))
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    return out


def close(conf: cfg.Config, req: Request, progress: Progress = NOBODY) -> list[Path]:
    """Close ``req.month``: every file written, the manifest last. Raises ConfigError for a bad
    continuity plan, StoreError when the store cannot be reached."""
    year, month = req.month.year, req.month.month
    out_dir = output_dir(conf, req.output_dir)
    opts = req.options(conf)
    progress.say(f"{req.month}: the month's drills")
    extra = _drills(conf, req.month, opts.languages)
    with Store.opened(conf.store_url(), conf.instance) as store:
        progress.say(f"{req.month}: the data-centre and digital-security reports")
        extra.update(_datacenter_security(conf, store, req.month, opts, req.refreeze))
        reader = store.reader(conf.ha_group)
        return close_month(
            reader, list(conf.zones), year, month, conf.timezone, str(out_dir), opts,
            refreeze=req.refreeze, extra=extra, progress=progress, configured=conf.maintenance,
        )  # fmt: skip


def preview(conf: cfg.Config, req: Request, progress: Progress = NOBODY) -> list[Path]:
    """The Zonas Digitales report of ``req.month`` so far, marked preliminary (reports.close.preview)."""
    with Store.opened(conf.store_url(), conf.instance) as store:
        reader = store.reader(conf.ha_group)
        folder = str(output_dir(conf, req.output_dir))
        return close_preview(
            reader, list(conf.zones), req.month, conf.timezone, folder, req.options(conf), progress=progress,
            configured=conf.maintenance,
        )  # fmt: skip


def close_all(conf: cfg.Config, req: Request, progress: Progress = NOBODY) -> list[Path]:
    """One report over every instance in the database (``todas/`` in the month's folder), from the
    months each instance (or HA group) froze when it closed; those that did not are named in it."""
    with Store.opened(conf.store_url(), conf.instance) as store:
        reader = store.reader()
        bodies, owners = reader.frozen_everywhere(str(req.month), "zones"), reader.owners()
    if not bodies:
        raise VigiaError(f"no instance has closed {req.month} yet: nothing to put together")
    files = month_files(
        rollup.combine(bodies),
        f"zonas-digitales-todas-{req.month}",
        req.options(conf),
        not_closed=[o for o in owners if o not in bodies],
        progress=progress,
    )
    return publish(output_dir(conf, req.output_dir) / str(req.month) / "todas", files)


def _drills(conf: cfg.Config, month: Month, languages: Sequence[str]) -> dict[str, bytes]:
    """The month's drills (planned vs run vs missed per service), with the month's evidence."""
    if conf.continuity_plan is None:
        return {}
    plan = continuity_plan.parse(conf.continuity_plan)
    runs = list(Journal(os.path.join(conf.state_dir, "drills")).runs())
    start, end = month.bounds(conf.timezone)
    out = {}
    for lang in languages:
        html = drill_report.render_period(plan, runs, start, end, lang=lang)
        out[f"simulacros-{month}.{lang}.html"] = html.encode("utf-8")
    return out


def _datacenter_security(
    conf: cfg.Config,
    store: Store,
    month: Month,
    opts: ReportOptions,
    refreeze: bool,
) -> dict[str, bytes]:
    """The month's data-centre optimisation and digital-security reports, as files for the month's folder."""
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
        store.reader(conf.ha_group),
        month.year,
        month.month,
        conf.timezone,
        hosts=hosts,
        services=services,
        rules=rules,
        types=conf.security.policy().types,
        schedules={t.id: t.schedule for t in conf.targets if t.schedule is not None},
        opts=opts,
        refreeze=refreeze,
    )


def main(argv: list[str] | None = None) -> int:
    """The daemon's child: close one month, print each file written; one line on stderr if it cannot."""
    parser = argparse.ArgumentParser(prog="python -m monitor.jobs.monthclose")
    parser.add_argument("--config", required=True)
    parser.add_argument("--month", required=True, type=Month.parse)
    parser.add_argument("--state-dir")
    parser.add_argument("--all-instances", action="store_true")
    args = parser.parse_args(argv)
    try:
        conf = cfg.parse(args.config, state_dir=args.state_dir)
        written = (close_all if args.all_instances else close)(conf, Request(args.month))
    except VigiaError as exc:
        print(f"month close {args.month}: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
