"""Continuity drills: list, run, history, report, verify-journal."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from kernel.files import write_atomic
from kernel.progress import Progress
from monitor.cli.common import config_arguments, load_config, load_plan, month_arg

if TYPE_CHECKING:
    import config as cfg
    from continuity.journal import Journal
    from continuity.plan import Plan


def _drills(args: argparse.Namespace) -> tuple[cfg.Config, Plan, Journal] | None:
    from continuity.journal import Journal

    conf = load_config(args.config)
    if conf is None:
        return None
    if conf.continuity_plan is None:
        print(f"{args.config}: no continuity plan configured (continuity: {{plan: FILE}})", file=sys.stderr)
        return None
    plan = load_plan(conf)
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
    from continuity import dryrun
    from continuity.runner import PASSED, Runner

    ctx = _drills(args)
    if ctx is None:
        return 1
    _conf, plan, journal = ctx
    if args.drill not in plan.drills:
        print(f"no drill {args.drill!r} (drills: {', '.join(plan.drills) or 'none'})", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"{args.drill}: would run (nothing is executed):")
        for line in dryrun.steps(plan.drill(args.drill)):
            print(f"  {line}")
        return 0
    runner = Runner(plan, journal)
    # A drill can take minutes (verify polls until max_duration): every step is told as it goes.
    runner.progress = Progress(not args.quiet, sys.stdout)
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
        start, end = args.month.bounds(conf.timezone)
        html = report.render_period(plan, runs, start, end, lang=args.lang)
    if args.output:
        write_atomic(args.output, html.encode("utf-8"))
        print(f"written {args.output}")
    else:
        sys.stdout.write(html)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drill = sub.add_parser("drill", help="continuity drills: list, run, history, verify-journal")
    drill_sub = drill.add_subparsers(dest="what", metavar="ACTION")
    drill_sub.required = True
    d_list = drill_sub.add_parser("list", help="drills with their next scheduled run and last verdict")
    config_arguments(d_list, state_dir=False)
    d_list.set_defaults(func=cmd_drill_list)
    d_run = drill_sub.add_parser(
        "run",
        help="run a drill now (trigger: manual)",
        description=(
            "Run one drill now: preconditions, method, verify, rollback (always), post_verify; journal it. "
            "Each step is printed as it starts and ends, each verify retry with why and how long is left. "
            "Exit 0 when it passed, 3 otherwise. --dry-run prints the steps with placeholders filled and runs nothing."
        ),
    )
    config_arguments(d_run, state_dir=False)
    d_run.add_argument("--dry-run", action="store_true")
    d_run.add_argument("--operator", help="who runs it (default: $SUDO_USER or $USER)")
    d_run.add_argument("--quiet", "-q", action="store_true", help="only the verdict, not each step as it runs")
    d_run.add_argument("drill", help="drill id")
    d_run.set_defaults(func=cmd_drill_run)
    d_hist = drill_sub.add_parser("history", help="journaled runs, oldest first")
    config_arguments(d_hist, state_dir=False)
    d_hist.add_argument("drill", nargs="?", help="only this drill")
    d_hist.set_defaults(func=cmd_drill_history)
    d_rep = drill_sub.add_parser("report", help="HTML report of one run (--run) or of a month (--month)")
    config_arguments(d_rep, state_dir=False)
    which = d_rep.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="run id (or a unique prefix of it)")
    which.add_argument("--month", type=month_arg, help="YYYY-MM: planned vs run vs missed per service")
    d_rep.add_argument("--lang", choices=["es", "en"], default="es")
    d_rep.add_argument("--output", "-o", help="file to write (default: standard output)")
    d_rep.set_defaults(func=cmd_drill_report)
    d_ver = drill_sub.add_parser("verify-journal", help="check the journal's hash chain (exit 1 if altered)")
    config_arguments(d_ver, state_dir=False)
    d_ver.set_defaults(func=cmd_drill_verify_journal)
