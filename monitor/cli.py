"""The ``vigia`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kernel.errors import ConfigError, VigiaError, short
from kernel.month import Month
from kernel.redact import RedactingFilter, redact
from monitor import config as cfg

if TYPE_CHECKING:
    from pathlib import Path

    from continuity.journal import Journal
    from continuity.plan import Plan
    from reports.engine import Header
    from store.db import Store

DEFAULT_CONFIG = "/etc/vigia/vigia.yml"

DESCRIPTION = """\
vigia watches a data centre and public Wi-Fi zones, exposes Prometheus
metrics, keeps history for monthly reports and runs continuity drills.

commands:
  run            run the daemon: probe on schedule, store history, serve /metrics
  check-config   validate a configuration file; print every problem with file:line:column
  hash-password  bcrypt hash of a password for the web config's basic_auth_users
  probe          probe one target once and print the result (no daemon needed)
  import         import usage data: operator-csv FILE (the operator's monthly CSV)
  drill          continuity drills: list, run ID [--dry-run], history [ID], verify-journal
  report         reports: month --month YYYY-MM [--lang] [--format html,pdf,csv]
  version        print the version
"""


def _setup_logging(level: str) -> None:
    # Under systemd the journal stamps each line; elsewhere add our own timestamp.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if "JOURNAL_STREAM" not in os.environ:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=getattr(logging, level), format=fmt, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # a URL's password never reaches the log, whoever logs it
    # APScheduler logs every job run at INFO: one line per cycle is noise in the journal.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, getattr(logging, level)))


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    n = len(exc.problems)
    print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.daemon import Daemon

    try:
        daemon = Daemon(args.config, state_dir=args.state_dir, listen=args.listen, web_config=args.web_config_file)
    except ConfigError as exc:  # the configuration, the continuity plan or the web config
        _print_problems(exc)
        return 1
    except VigiaError as exc:  # the store URL cannot be read or used, a bad --listen
        print(f"vigia: cannot start: {redact(str(exc))}", file=sys.stderr)
        return 1
    _setup_logging(args.log_level or daemon.config.log_level)
    try:
        return daemon.serve_forever()
    except VigiaError as exc:  # store unreachable, port in use, open-files limit: one line, no traceback
        logging.getLogger("vigia").error("cannot start: %s", exc)
        return 1


def _load(path: str, *, state_dir: str | None = None) -> cfg.Config | None:
    """The parsed config, or None after printing every problem."""
    try:
        return cfg.parse(path, state_dir=state_dir)
    except ConfigError as exc:
        _print_problems(exc)
        return None


def _load_plan(conf: cfg.Config) -> Plan | None:
    """The continuity plan the config names, or None after printing every problem in it."""
    from continuity import plan as continuity_plan

    assert conf.continuity_plan is not None
    try:
        return continuity_plan.parse(conf.continuity_plan)
    except ConfigError as exc:
        _print_problems(exc)
        return None


def cmd_check_config(args: argparse.Namespace) -> int:
    conf = _load(args.file)
    if conf is None:
        return 1
    if conf.continuity_plan is not None:
        plan = _load_plan(conf)
        if plan is None:
            return 1
        print(
            f"{conf.continuity_plan}: OK (plan {plan.version}: {len(plan.services)} services, "
            f"{len(plan.drills)} drills)"
        )
    print(f"{args.file}: OK ({len(conf.targets)} targets, {len(conf.maintenance)} maintenance windows)")
    from monitor.webconfig import parse as parse_web

    web_file = args.web_config_file or conf.web.config_file
    if web_file:
        try:
            web = parse_web(web_file)
        except ConfigError as exc:
            _print_problems(exc)
            return 1
        print(f"{web_file}: OK (TLS {'on' if web.tls else 'off'}, {len(web.users)} basic auth users)")
    if args.check_store:
        from monitor.daemon import store_url
        from store.db import SCHEMA_VERSION, Store, safe_url

        store = Store(store_url(conf), conf.instance)  # a StoreError is one line (main)
        try:
            found = store.reachable_schema()
        finally:
            store.close()
        status = "empty, vigia creates the schema at start" if found is None else f"schema version {found}"
        if found is not None and found > SCHEMA_VERSION:
            print(
                f"store {safe_url(store.url)}: schema {found} is newer than this vigia ({SCHEMA_VERSION})",
                file=sys.stderr,
            )
            return 1
        print(f"store {safe_url(store.url)}: reachable ({status})")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from monitor.webconfig import BCRYPT_MAX_PASSWORD, hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password or len(password.encode()) > BCRYPT_MAX_PASSWORD:
        print(f"the password must have 1 to {BCRYPT_MAX_PASSWORD} bytes", file=sys.stderr)
        return 1
    print(hash_password(password, args.cost))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from monitor.cycle import CycleRunner

    conf = _load(args.config)
    if conf is None:
        return 1
    try:
        target = conf.target(args.target)
    except KeyError:
        known = ", ".join(t.id for t in conf.targets) or "none"
        print(f"{args.config}: no target {args.target!r} (targets: {known})", file=sys.stderr)
        return 2
    runner = CycleRunner(max_in_flight=max(target.settings.sockets(), 1))
    try:
        outcome = runner.run([target])
    finally:
        runner.close()
    res = outcome.results[0]
    if args.json:
        print(
            json.dumps(
                {
                    "target": res.target,
                    "probe": res.probe,
                    "started_at": res.started_at.isoformat(),
                    "duration_seconds": res.duration,
                    "success": res.success,
                    "reason": res.reason,
                    "message": res.message,
                    "values": res.values,
                    "labels": res.labels,
                    "series": [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in res.series],
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        status = "OK" if res.success else f"FAIL ({res.reason})"
        print(f"{res.target} [{res.probe}] {status} in {res.duration * 1000:.1f} ms")
        if res.message:
            print(f"  {res.message}")
        for k, v in sorted(res.values.items()):
            print(f"  {k} = {v:g}")
        for k, text in sorted(res.labels.items()):
            print(f"  {k}: {text}")
        for s in res.series:
            lbl = ",".join(f"{k}={v}" for k, v in s.labels)
            print(f"  {s.name}{{{lbl}}} = {s.value:g}")
    return 0 if res.success else 3


def cmd_import_operator_csv(args: argparse.Namespace) -> int:
    import time as _time

    from monitor.daemon import store_url
    from probes import operator_csv
    from store.db import Store

    conf = _load(args.config)
    if conf is None:
        return 1
    try:
        with open(args.file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    zones = [operator_csv.ZoneRef(z.id, z.name, z.barrio, z.aliases) for z in conf.zones]
    try:
        result = operator_csv.parse(args.file, data, zones)
    except operator_csv.CsvFormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    new = replaced = 0
    if result.accepted and not args.dry_run:
        store = Store(store_url(conf), conf.instance)
        try:
            store.migrate()
            new, replaced = store.import_operator_months(result.accepted, os.path.abspath(args.file), _time.time())
        finally:
            store.close()
    rows = len(result.accepted) + len(result.refused)
    verb = "would import" if args.dry_run else "imported"
    print(
        f"{args.file}: {rows} rows ({result.encoding}): {len(result.accepted)} {verb}"
        + (f" ({new} new, {replaced} replacing an earlier import)" if not args.dry_run else "")
        + f", {len(result.refused)} refused"
    )
    for row in result.accepted:
        print(
            f"  line {row.line}: {row.zone} {row.year}-{row.month:02d}: {row.smartphone} smartphone, "
            f"{row.tablet} tablet, {row.pc} pc, {row.other} otro ({row.devices} dispositivos)"
        )
    for refusal in result.refused:
        print(f"  line {refusal.line}: REFUSED: {refusal.reason}")
    return 3 if result.refused else 0


def _drills(args: argparse.Namespace) -> tuple[cfg.Config, Plan, Journal] | None:
    from continuity.journal import Journal

    conf = _load(args.config)
    if conf is None:
        return None
    if conf.continuity_plan is None:
        print(f"{args.config}: no continuity plan configured (continuity: {{plan: FILE}})", file=sys.stderr)
        return None
    plan = _load_plan(conf)
    if plan is None:
        return None
    return conf, plan, Journal(os.path.join(conf.state_dir, "drills"))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g}s"


def cmd_drill_list(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    ctx = _drills(args)
    if ctx is None:
        return 1
    conf, plan, journal = ctx
    last = {run["drill"]: run for run in journal.runs()}
    now = datetime.now(UTC)
    print(f"{'DRILL':<24} {'SERVICE':<18} {'EXERCISE':<11} {'NEXT RUN':<26} LAST")
    for drill in plan.drills.values():
        trigger = plan.triggers.get(drill.id)
        nxt = trigger.get_next_fire_time(None, now) if trigger else None
        when = nxt.astimezone(conf.timezone).isoformat(timespec="minutes") if nxt else "manual"
        prev = last.get(drill.id)
        done = f"{prev['verdict']} {prev['started_at'][:16]}" if prev else "never"
        print(f"{drill.id:<24} {drill.service:<18} {drill.exercise:<11} {when:<26} {done}")
    return 0


def cmd_drill_run(args: argparse.Namespace) -> int:
    from continuity.runner import PASSED, Runner

    ctx = _drills(args)
    if ctx is None:
        return 1
    _conf, plan, journal = ctx
    if args.drill not in plan.drills:
        print(f"no drill {args.drill!r} (drills: {', '.join(plan.drills) or 'none'})", file=sys.stderr)
        return 2
    runner = Runner(plan, journal)
    if args.dry_run:
        print(f"{args.drill}: would run (nothing is executed):")
        for line in runner.dry_run(args.drill):
            print(f"  {line}")
        return 0
    if journal.unfinished():
        print(
            "warning: an interrupted drill run awaits recovery; the daemon rolls it back when it starts",
            file=sys.stderr,
        )
    operator = args.operator or os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown"
    try:
        rec = runner.run(args.drill, trigger="manual", operator=operator)
    finally:
        runner.close()
    print(f"{rec.drill} run {rec.run_id}: {rec.verdict}{f' ({rec.reason})' if rec.reason else ''}")
    print(
        f"  RTO achieved {_seconds(rec.rto_achieved_seconds)} / target {_seconds(rec.rto_target_seconds)}; "
        f"RPO achieved {_seconds(rec.rpo_achieved_seconds)} / target {_seconds(rec.rpo_target_seconds)}"
    )
    for step in rec.steps:
        print(
            f"  {step.phase}[{step.index}] {step.name}: {'ok' if step.ok else 'FAILED'} "
            f"({step.duration_seconds:g}s) {step.detail}"
        )
    return 0 if rec.verdict == PASSED else 3


def cmd_drill_history(args: argparse.Namespace) -> int:
    ctx = _drills(args)
    if ctx is None:
        return 1
    _conf, _plan, journal = ctx
    print(f"{'STARTED (UTC)':<24} {'DRILL':<24} {'TRIGGER':<9} {'VERDICT':<20} {'RTO':>9} {'RPO':>9}")
    for run in journal.runs(args.drill):
        print(
            f"{run['started_at'][:23]:<24} {run['drill']:<24} {run['trigger']:<9} {run['verdict']:<20} "
            f"{_seconds(run.get('rto_achieved_seconds')):>9} {_seconds(run.get('rpo_achieved_seconds')):>9}"
        )
    return 0


def cmd_drill_verify_journal(args: argparse.Namespace) -> int:
    ctx = _drills(args)
    if ctx is None:
        return 1
    journal = ctx[2]
    count, problems = journal.verify()
    for p in problems:
        print(f"{journal.file}:{p.line}: {p.message}", file=sys.stderr)
    if problems:
        print(f"{count} runs checked: the journal was altered", file=sys.stderr)
        return 1
    print(f"{journal.file}: {count} runs, hash chain intact")
    return 0


def cmd_drill_report(args: argparse.Namespace) -> int:

    from continuity import report

    ctx = _drills(args)
    if ctx is None:
        return 1
    conf, plan, journal = ctx
    runs = list(journal.runs())
    if args.run:
        found = [r for r in runs if r["run_id"] == args.run or r["run_id"].startswith(args.run)]
        if len(found) != 1:
            print(f"no single journaled run matches {args.run!r}", file=sys.stderr)
            return 2
        html = report.render_run(plan, found[0], lang=args.lang, tz=conf.timezone.key)
    else:
        try:
            start, end = Month.parse(args.month).bounds(conf.timezone)
        except ValueError:
            print(f"--month takes YYYY-MM, not {args.month!r}", file=sys.stderr)
            return 2
        html = report.render_period(plan, runs, start, end, lang=args.lang)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(html)
        print(f"written {args.output}")
    else:
        sys.stdout.write(html)
    return 0


def _report_setup(conf: cfg.Config, output_dir: str | None) -> tuple[cfg.ReportSettings, Path, Header]:
    """The reports settings, the output folder (created) and the document header, for every report command."""
    from pathlib import Path

    from reports.engine import Header

    assert conf.raw is not None
    rs = conf.raw.reports
    out_dir = Path(output_dir or rs.directory or os.path.join(conf.state_dir, "reports"))
    out_dir.mkdir(parents=True, exist_ok=True)
    return rs, out_dir, Header(rs.entity, rs.office, rs.macroprocess, rs.process, rs.code, rs.version)


def cmd_report_month(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from monitor.daemon import store_url
    from reports.close import close_month
    from store.db import Store

    conf = _load(args.config, state_dir=args.state_dir)
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

        plan = _load_plan(conf)
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
            store.engine,
            conf.instance,
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

    assert conf.raw is not None
    dc = conf.raw.datacenter
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
        store.engine,
        conf.instance,
        year,
        month,
        conf.timezone,
        hosts=hosts,
        services=services,
        rules=rules,
        types=conf.raw.security.policy().types,
        languages=languages,
        formats=[x for x in formats if x in ("html", "pdf")],
        header=header,
        refreeze=refreeze,
    )


def cmd_report_plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reports import plan_index

    conf = _load(args.config, state_dir=args.state_dir)
    if conf is None:
        return 1
    rs, out_dir, header = _report_setup(conf, args.output_dir)
    assert conf.raw is not None
    lines = [
        plan_index.PlanLine(x.activity, x.product, x.target, x.responsible, x.evidence) for x in conf.raw.action_plan
    ]
    runs = plan_index.load_runs(Path(conf.state_dir) / "drills" / "journal.jsonl")
    for lang in [args.lang] if args.lang else list(rs.languages):
        path = out_dir / f"plan-{args.year}.{lang}.html"
        path.write_text(plan_index.render(args.year, lines, out_dir, runs, lang=lang, header=header), encoding="utf-8")
        print(path)
    return 0


def cmd_version(_args: argparse.Namespace) -> int:
    from monitor.daemon import vigia_version

    print(f"vigia {vigia_version()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigia", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser(
        "run",
        help="run the daemon",
        description=(
            "Run the daemon in the foreground (systemd: Type=notify comes with the deploy unit). "
            "Probes every target on its interval, keeps state and history in the store and serves "
            "/metrics, /-/healthy and /-/ready. SIGHUP reloads the configuration (an invalid file keeps "
            "the running one); SIGTERM finishes the running cycle's writes and exits 0."
        ),
    )
    run.add_argument(
        "--config",
        "-c",
        default=os.environ.get("VIGIA_CONFIG", DEFAULT_CONFIG),
        help=f"configuration file (default: $VIGIA_CONFIG or {DEFAULT_CONFIG})",
    )
    run.add_argument("--state-dir", help="state directory, overriding state_dir in the file")
    run.add_argument("--listen", help="address:port for the HTTP endpoints, overriding web.listen")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="FILE",
        help="TLS and basic auth (Prometheus exporter-toolkit format), overriding web.config_file",
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check-config",
        help="validate a configuration file",
        description=(
            "Validate a configuration file without running anything. Exit 0 when valid; otherwise print "
            "every problem as FILE:LINE:COLUMN: KEY: MESSAGE and exit 1."
        ),
    )
    check.add_argument("file", help="configuration file")
    check.add_argument(
        "--web.config.file", dest="web_config_file", metavar="FILE", help="also validate this web config file"
    )
    check.add_argument(
        "--check-store", action="store_true", help="also connect to the store and check its schema version"
    )
    check.set_defaults(func=cmd_check_config)

    hashpw = sub.add_parser(
        "hash-password",
        help="bcrypt hash for basic_auth_users in the web config",
        description="Read a password (prompted, or one line of standard input) and print its bcrypt hash.",
    )
    hashpw.add_argument("--cost", type=int, default=10, choices=range(10, 16), metavar="10..15")
    hashpw.set_defaults(func=cmd_hash_password)

    probe = sub.add_parser(
        "probe",
        help="probe one target once",
        description=(
            "Probe one configured target once, with its configured timeout, and print the result. "
            "Exit 0 if the probe succeeded, 3 if it failed, 1 for an invalid config, 2 for an unknown target."
        ),
    )
    probe.add_argument("--config", "-c", default=os.environ.get("VIGIA_CONFIG", DEFAULT_CONFIG))
    probe.add_argument("--json", action="store_true", help="print the result as JSON")
    probe.add_argument("target", help="target id")
    probe.set_defaults(func=cmd_probe)

    imp = sub.add_parser("import", help="import usage data (operator monthly CSV)")
    imp_sub = imp.add_subparsers(dest="what", metavar="KIND")
    imp_sub.required = True
    op = imp_sub.add_parser(
        "operator-csv",
        help="operator's monthly devices-per-zone CSV",
        description=(
            "Import the operator's monthly CSV (AÑO, MES, CORREGIMIENTO/BARRIO, ZONA WIFI, OTRO, SMARTPHONE, "
            "TABLET, PC) into the store. Zone names are matched to configured zones by normalised name and "
            "aliases. Prints every row imported and every row refused with its line number. Exit 0 when every "
            "row was imported, 3 when some were refused, 1 when the file or config is unusable."
        ),
    )
    op.add_argument("--config", "-c", default=os.environ.get("VIGIA_CONFIG", DEFAULT_CONFIG))
    op.add_argument("--dry-run", action="store_true", help="check and print, store nothing")
    op.add_argument("file", help="CSV file")
    op.set_defaults(func=cmd_import_operator_csv)

    drill = sub.add_parser("drill", help="continuity drills: list, run, history, verify-journal")
    drill_sub = drill.add_subparsers(dest="what", metavar="ACTION")
    drill_sub.required = True
    default_config = os.environ.get("VIGIA_CONFIG", DEFAULT_CONFIG)
    d_list = drill_sub.add_parser("list", help="drills with their next scheduled run and last verdict")
    d_list.add_argument("--config", "-c", default=default_config, help="configuration file")
    d_list.set_defaults(func=cmd_drill_list)
    d_run = drill_sub.add_parser(
        "run",
        help="run a drill now (trigger: manual)",
        description=(
            "Run one drill now: preconditions, method, verify, rollback (always), post_verify; journal it. "
            "Exit 0 when it passed, 3 otherwise. --dry-run prints the steps with placeholders filled and runs nothing."
        ),
    )
    d_run.add_argument("--config", "-c", default=default_config, help="configuration file")
    d_run.add_argument("--dry-run", action="store_true")
    d_run.add_argument("--operator", help="who runs it (default: $SUDO_USER or $USER)")
    d_run.add_argument("drill", help="drill id")
    d_run.set_defaults(func=cmd_drill_run)
    d_hist = drill_sub.add_parser("history", help="journaled runs, oldest first")
    d_hist.add_argument("--config", "-c", default=default_config, help="configuration file")
    d_hist.add_argument("drill", nargs="?", help="only this drill")
    d_hist.set_defaults(func=cmd_drill_history)
    d_rep = drill_sub.add_parser("report", help="HTML report of one run (--run) or of a month (--month)")
    d_rep.add_argument("--config", "-c", default=default_config, help="configuration file")
    which = d_rep.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="run id (or a unique prefix of it)")
    which.add_argument("--month", help="YYYY-MM: planned vs run vs missed per service")
    d_rep.add_argument("--lang", choices=["es", "en"], default="es")
    d_rep.add_argument("--output", "-o", help="file to write (default: standard output)")
    d_rep.set_defaults(func=cmd_drill_report)
    d_ver = drill_sub.add_parser("verify-journal", help="check the journal's hash chain (exit 1 if altered)")
    d_ver.add_argument("--config", "-c", default=default_config, help="configuration file")
    d_ver.set_defaults(func=cmd_drill_verify_journal)

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
    r_month.add_argument("--config", "-c", default=default_config, help="configuration file")
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
    r_plan.add_argument("--config", "-c", default=default_config, help="configuration file")
    r_plan.add_argument("--year", type=int, required=True)
    r_plan.add_argument("--lang", choices=["es", "en"])
    r_plan.add_argument("--output-dir")
    r_plan.add_argument("--state-dir")
    r_plan.set_defaults(func=cmd_report_plan)

    ver = sub.add_parser("version", help="print the version")
    ver.set_defaults(func=cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        _print_problems(exc)
        return 1
    except VigiaError as exc:  # the store is down, a file cannot be written: one line, never a traceback
        print(f"vigia {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError | OSError):
            raise  # a bug: its traceback is what a report needs
        print(f"vigia {args.command}: {short(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
