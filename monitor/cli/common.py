"""What every command shares: logging, loading the configuration and the plan, printing problems."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from kernel.errors import ConfigError
from kernel.month import Month
from kernel.redact import RedactingFilter
from kernel.text import printable

if TYPE_CHECKING:
    import config as cfg
    from continuity.plan import Plan

DEFAULT_CONFIG = "/etc/vigia/vigia.yml"


def default_config() -> str:
    return os.environ.get("VIGIA_CONFIG", DEFAULT_CONFIG)


def config_arguments(p: argparse.ArgumentParser, *, state_dir: bool = True, after_action: bool = False) -> None:
    """--config (and --state-dir), as every command that reads the configuration takes them.
    ``after_action``: the same options again on an action's own parser (``vigia incident open
    --config F``), where they must not reset what was given before the action."""
    default: object = argparse.SUPPRESS if after_action else default_config()
    p.add_argument(
        "--config", "-c", default=default, help=f"configuration file (default: $VIGIA_CONFIG or {DEFAULT_CONFIG})"
    )
    if state_dir:
        p.add_argument("--state-dir", default=argparse.SUPPRESS if after_action else None,
                       help="state directory, overriding state_dir in the file")  # fmt: skip


def month_arg(text: str) -> Month:
    """--month's type: a month, or argparse's own error (exit 2) naming what was given."""
    try:
        return Month.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes YYYY-MM, not {text!r}") from None


# Record ids are SQL BIGINTs: a larger number is no record, and must not reach the database.
ID_MAX = 2**63 - 1


def record_id(text: str) -> int:
    """An id argument's type (an incident, a window): a positive whole number a database can hold,
    or argparse's own error (exit 2) naming what was given."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number, not {printable(text)!r}") from None
    if not 1 <= value <= ID_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not an id (1 to {ID_MAX})")
    return value


def local_time(at: float, tz: tzinfo) -> str:
    """A stored time as a date in ``tz``; one no calendar can show (a row written before times were
    checked) as its raw number, so that a listing never stops at it."""
    try:
        return datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return f"@{at:.0f}"


def row(*fields: object) -> None:
    """One line of a listing, tab-separated, each field with its control characters shown escaped:
    stored text must not drive the terminal of whoever lists it."""
    print("\t".join(printable(str(f)) for f in fields))


def operator() -> str:
    """Who runs this command: the operating-system user, kept with what an operator enters."""
    import getpass

    try:
        return getpass.getuser()[:64]
    except (KeyError, OSError):  # no passwd entry for this uid (a container)
        return "unknown"


def setup_logging(level: str) -> None:
    # Under systemd the journal stamps each line; elsewhere add our own timestamp.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if "JOURNAL_STREAM" not in os.environ:
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=getattr(logging, level), format=fmt, stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())  # a URL's password never reaches the log, whoever logs it
    # APScheduler logs every job run at INFO: one line per cycle is noise in the journal.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, getattr(logging, level)))


def print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    n = len(exc.problems)
    print(f"{n} problem{'s' if n != 1 else ''} found", file=sys.stderr)


def load_config(path: str, *, state_dir: str | None = None) -> cfg.Config | None:
    """The parsed config, or None after printing every problem."""
    import config as cfg  # here, not at the top: `vigia agent run` never reads it, and it is megabytes

    try:
        return cfg.parse(path, state_dir=state_dir)
    except ConfigError as exc:
        print_problems(exc)
        return None


def load_plan(conf: cfg.Config) -> Plan | None:
    """The continuity plan the config names, or None after printing every problem in it."""
    from continuity import plan as continuity_plan

    assert conf.continuity_plan is not None
    try:
        return continuity_plan.parse(conf.continuity_plan)
    except ConfigError as exc:
        print_problems(exc)
        return None
