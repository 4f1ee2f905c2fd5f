"""Importing usage data: the operator's monthly CSV."""

from __future__ import annotations

import argparse
import os
import sys

from monitor.cli.common import default_config, load_config


def cmd_import_operator_csv(args: argparse.Namespace) -> int:
    import time as _time

    from kernel.progress import Progress
    from probes import operator_csv
    from store.db import Store

    conf = load_config(args.config)
    if conf is None:
        return 1
    progress = Progress.for_terminal(quiet=args.quiet)
    progress.say(f"{args.file}: reading")
    try:
        with open(args.file, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    zones = [operator_csv.ZoneRef(z.id, z.name, z.barrio, z.aliases) for z in conf.zones]
    progress.say(f"{args.file}: {len(data):,} bytes; matching its rows to {len(zones)} zones")
    try:
        result = operator_csv.parse(args.file, data, zones, strict=args.strict)
    except operator_csv.CsvFormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    new = replaced = 0
    if result.accepted and not args.dry_run:
        progress.say(f"{args.file}: storing {len(result.accepted)} rows")
        store = Store(conf.store_url(), conf.instance)
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
            f"{row.tablet} tablet, {row.pc} pc, {row.other} otro ({row.devices} dispositivos), by {row.matched}"
        )
    for refusal in result.refused:
        print(f"  line {refusal.line}: REFUSED: {refusal.reason}")
    return 3 if result.refused else 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser("import", help="import usage data (operator monthly CSV)")
    imp_sub = imp.add_subparsers(dest="what", metavar="KIND")
    imp_sub.required = True
    op = imp_sub.add_parser(
        "operator-csv",
        help="operator's monthly devices-per-zone CSV",
        description=(
            "Import the operator's monthly CSV (AÑO, MES, CORREGIMIENTO/BARRIO, ZONA WIFI, OTRO, SMARTPHONE, "
            "TABLET, PC) into the store. Zone names are matched to configured zones by normalised name and "
            "aliases, then (unless --strict) by a close name or by a barrio that has exactly one zone; two "
            "candidates close together refuse the row. Prints every row imported, with how it was matched, and "
            "every row refused with its line number. Exit 0 when every "
            "row was imported, 3 when some were refused, 1 when the file or config is unusable."
        ),
    )
    op.add_argument("--config", "-c", default=default_config())
    op.add_argument("--dry-run", action="store_true", help="check and print, store nothing")
    op.add_argument("--quiet", "-q", action="store_true", help="no progress on the terminal")
    op.add_argument(
        "--strict", action="store_true", help="exact names and aliases only (no close names, no match by barrio)"
    )
    op.add_argument("file", help="CSV file")
    op.set_defaults(func=cmd_import_operator_csv)
