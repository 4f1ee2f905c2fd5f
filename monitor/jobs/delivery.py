"""The reports' delivery by e-mail as a daemon job: every few minutes, the month just closed (once
its manifest is written) to each configured recipient that has not had it (reports.delivery; the
ledger makes it once whichever instance tries)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import config as cfg
from kernel.month import Month
from monitor.runtime.stats import DaemonStats
from store.db import Store

log = logging.getLogger("vigia")


class ReportDelivery:
    def __init__(self, config: Callable[[], cfg.Config], store: Store, stats: DaemonStats) -> None:
        self._config, self._store, self._stats = config, store, stats

    def run(self) -> None:
        from reports.delivery import deliver, who
        from store.deliveries import FAILED, SENT, UNCERTAIN, Deliveries

        conf = self._config()
        settings = conf.reports.delivery
        if settings is None:
            return
        month = Month.of(datetime.now(UTC), conf.timezone).previous()
        folder = Path(conf.reports.directory or os.path.join(conf.state_dir, "reports")) / str(month)
        ledger = Deliveries(self._store.engine, conf.group)
        for recipient, state in deliver(ledger, settings, folder, month, who(), time.time):
            if state == SENT:
                self._stats.add("report_deliveries_sent")
                log.info("month %s: reports delivered to %s", month, recipient)
            else:
                self._stats.add("report_delivery_failures")
                log.warning("month %s: reports not delivered to %s (%s)", month, recipient, state)
        stuck = [d for d in ledger.listed() if d.state in (FAILED, UNCERTAIN)]
        self._stats.report_deliveries_undelivered = len(stuck)
