"""The ``vigia`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kernel.errors import ConfigError, InputError, VigiaError
from kernel.text import printable, undecodable_argument
from monitor.cli import (
    agents,
    cluster,
    daemon,
    drills,
    incidents,
    maintenance,
    outages,
    reports,
    schedule,
    usage,
)
from monitor.cli.common import print_problems

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
  instances      the vigia processes sharing the store: leader, roles, heartbeats
  incident       incidents on zones: open, update ID, close ID, list (the public status page shows them)
  maintenance    maintenance windows without a reload: add, cancel ID, list
  outage         outages as measured, corrections after the fact: list, exclude ID, annotate ID
  schedule       a zone's or target's operating hours, day by day: ID --month YYYY-MM
  agent          zone agents: add ZONE (its token, printed once), list, revoke ZONE
  version        print the version
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigia", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in (
        daemon,
        usage,
        drills,
        reports,
        cluster,
        incidents,
        maintenance,
        outages,
        schedule,
        agents,
    ):  # one module per command group
        group.add_parsers(sub)
    daemon.add_version_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    bad = undecodable_argument(given)
    if bad is not None:
        # Python hands bytes that are not UTF-8 over as lone surrogates, which would fail later,
        # wherever the text is first encoded (the store, a terminal), with a traceback.
        print(f"vigia: argument {bad[0]} ({bad[1]}) is not valid UTF-8", file=sys.stderr)
        return 2
    args = build_parser().parse_args(given)
    try:
        return int(args.func(args))
    except InputError as exc:  # an operator's input refused whole, before anything was stored
        action = getattr(args, "action", None)
        command = f"{args.command} {action}" if isinstance(action, str) else args.command
        print(f"vigia {command}: {printable(str(exc))}; nothing was stored", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print_problems(exc)
        return 1
    except VigiaError as exc:  # the store is down, a file cannot be written: one line, never a traceback
        print(f"vigia {args.command}: {exc}", file=sys.stderr)
        return 1
    # Anything else is a bug, whose traceback is what a report needs: each boundary maps what its
    # library raises into the tree (store.backends the driver's errors, kernel.files the system's).


if __name__ == "__main__":
    sys.exit(main())
