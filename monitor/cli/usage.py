"""Importing usage data: the operator's monthly CSV."""

from __future__ import annotations

import argparse
import os
import sys

from kernel.files import NotReadable, read_limited
from kernel.text import printable
from monitor.cli.common import config_arguments, load_config

# A year of 1,000 zones is about 1 MB.
MAX_CSV_BYTES = 16 * 2**20


def cmd_import_operator_csv(args: argparse.Namespace) -> int:
    import time as _time

    from kernel.progress import Progress
    from probes.usage import operator_csv
    from store.db import Store

    conf = load_config(args.config)
    if conf is None:
        return 1
    progress = Progress.for_terminal(quiet=args.quiet)
    progress.say(f"{args.file}: reading")
    try:
        data = read_limited(args.file, MAX_CSV_BYTES)
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    except NotReadable as exc:
        raise operator_csv.CsvFormatError(f"{args.file}: {exc}") from None
    zones = [operator_csv.ZoneRef(z.id, z.name, z.barrio, z.aliases) for z in conf.zones]
    progress.say(f"{args.file}: {len(data):,} bytes; matching its rows to {len(zones)} zones")
    result = operator_csv.parse(args.file, data, zones, strict=args.strict)  # CsvFormatError: refused whole
    rows = len(result.accepted) + len(result.refused)
    # A file with a bad row is stored whole or not at all: its other rows would be figures of a
    # month whose total no longer matches the operator's (unless the operator says so).
    store_it = not args.dry_run and bool(result.accepted) and (not result.refused or args.skip_bad_rows)
    new = replaced = 0
    if store_it:
        progress.say(f"{args.file}: storing {len(result.accepted)} rows")
        with Store.opened(conf.store_url(), conf.instance) as store:
            new, replaced = store.import_operator_months(result.accepted, os.path.abspath(args.file), _time.time())
    if args.dry_run:
        verb = "would import"
    elif store_it:
        verb = f"imported ({new} new, {replaced} replacing an earlier import)"
    else:
        verb = "could be imported, but nothing was stored" if result.refused else "imported"
    refused = "skipped (--skip-bad-rows)" if args.skip_bad_rows and result.refused else "refused"
    print(f"{args.file}: {rows} rows ({result.encoding}): {len(result.accepted)} {verb}, "
          f"{len(result.refused)} {refused}")  # fmt: skip
    for row in result.accepted:
        print(
            f"  line {row.line}: {row.zone} {row.year}-{row.month:02d}: {row.smartphone} smartphone, "
            f"{row.tablet} tablet, {row.pc} pc, {row.other} otro ({row.devices} dispositivos), by {row.matched}"
        )
    for refusal in result.refused:
        print(printable(f"  line {refusal.line}: {refused.split(maxsplit=1)[0].upper()}: {refusal.reason}"))
    if result.refused and not args.skip_bad_rows and not args.dry_run:
        print(f"{args.file}: {len(result.refused)} row(s) refused, so nothing from the file was stored: correct "
              "them, or import the others with --skip-bad-rows", file=sys.stderr)  # fmt: skip
        return 2
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
            "every row refused with its line number. A row that cannot be read whole (a stray quote, a cell more "
            "or less than the header, a control character, an absurd count) is refused, and then nothing from the "
            "file is stored unless --skip-bad-rows imports the other rows. Exit 0 when every row was imported, "
            "2 when the file or a row was refused and nothing stored, 3 when rows were skipped (--skip-bad-rows) "
            "or refused in a --dry-run, 1 when the config is unusable."
        ),
    )
    config_arguments(op, state_dir=False)
    op.add_argument("--dry-run", action="store_true", help="check and print, store nothing")
    op.add_argument(
        "--skip-bad-rows", action="store_true", help="store the rows that read well even when others are refused"
    )
    op.add_argument("--quiet", "-q", action="store_true", help="no progress on the terminal")
    op.add_argument(
        "--strict", action="store_true", help="exact names and aliases only (no close names, no match by barrio)"
    )
    op.add_argument("file", help="CSV file")
    op.set_defaults(func=cmd_import_operator_csv)
