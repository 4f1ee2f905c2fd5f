"""The daemon's month jobs, each in a child process (monitor.jobs.monthclose): report rendering
(matplotlib, WeasyPrint) is heavy, and its memory should not stay with the long-running daemon.

- the month close, once per HA group (a claim per month; retaken if its claimant died);
- on PostgreSQL, the roll-up over every instance, by the leader, once per month, hours later so
  that every instance has closed first.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import config as cfg
from kernel.month import Month
from monitor.jobs.leadership import Leadership
from monitor.runtime.stats import DaemonStats

log = logging.getLogger("vigia")


class MonthJobs:
    def __init__(
        self,
        config_path: str,
        config: Callable[[], cfg.Config],
        leadership: Leadership,
        stats: DaemonStats,
        on_done: Callable[[], None],
    ) -> None:
        self._path, self._config, self._leadership, self._stats, self._on_done = (
            config_path, config, leadership, stats, on_done,
        )  # fmt: skip

    def close_previous(self) -> None:
        conf = self._config()
        month = Month.of(datetime.now(UTC), conf.timezone).previous()
        job = f"month-close/{conf.group}"
        ran = self._leadership.once(job, str(month), lambda: self._run(conf, month, False), lead=False, retake=True)
        if ran is None:
            log.info("month %s: closed by another member of %s", month, conf.group)
        self._on_done()

    def roll_up_previous(self) -> None:
        conf = self._config()
        month = Month.of(datetime.now(UTC), conf.timezone).previous()
        self._leadership.once("month-rollup", str(month), lambda: self._run(conf, month, True), lead=True, retake=True)
        self._on_done()

    def recover(self) -> None:
        """Month work whose claimant died in the middle (its claim left running), retaken at the
        next renewal instead of at the next monthly firing: the group's close by any member once
        its claimant's heartbeat stopped a lease ago; the roll-up by the leader of a later epoch."""
        conf = self._config()
        close = f"month-close/{conf.group}"
        for key in self._leadership.stale(close, lead=False):
            log.warning("month %s: its close was left unfinished by an instance that stopped: closing it here", key)
            work = functools.partial(self._run, conf, Month.parse(key), False)
            self._leadership.once(close, key, work, lead=False, retake=True)
        for key in self._leadership.stale("month-rollup", lead=True):
            log.warning("month %s: its roll-up was left unfinished by a leader that stopped: rolling it up here", key)
            work = functools.partial(self._run, conf, Month.parse(key), True)
            self._leadership.once("month-rollup", key, work, lead=True, retake=True)

    def _run(self, conf: cfg.Config, month: Month, all_instances: bool) -> bool:
        what = "roll-up of every instance" if all_instances else "month close"
        ok, said = in_child(self._path, conf.state_dir, month, all_instances=all_instances)
        if ok:
            self._stats.month_close_ok_at = time.time()
            log.info("%s %s: %d files", what, month, len(said.split()))
        else:
            self._stats.add("month_close_errors")
            log.error("%s %s failed: %s", what, month, said)
        return ok


def in_child(
    config_path: str, state_dir: str, month: Month, *, all_instances: bool = False, timeout: float = 3600
) -> tuple[bool, str]:
    """Close ``month`` (or put every instance's together) in a child process: (done, the files
    written or why not). Here, not in monitor.jobs.monthclose: importing that module would load
    matplotlib and the report stack into the daemon (about 50 MB it would keep for ever)."""
    argv = [sys.executable, "-m", "monitor.jobs.monthclose", "--config", config_path, "--month", str(month)]
    argv += ["--all-instances"] if all_instances else []
    try:
        done = subprocess.run(
            [*argv, "--state-dir", state_dir], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"did not finish within {timeout:g}s"
    if done.returncode == 0:
        return True, done.stdout
    return False, (done.stderr or done.stdout)[-500:]
