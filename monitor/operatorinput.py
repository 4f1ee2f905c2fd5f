"""What operators enter from the command line while the daemon runs: incidents and maintenance
windows, read from the store after each cycle (no reload needed)."""

from __future__ import annotations

import logging
import time

import config as cfg
from config import Maintenance
from domain.incidents import Incident
from store.db import Store

log = logging.getLogger("vigia")

# Incidents closed this long ago still show in the status page's feed.
INCIDENTS_SHOWN = 28 * 86400.0


def read(store: Store, conf: cfg.Config) -> tuple[list[Incident], tuple[Maintenance, ...]] | None:
    """Incidents (open, and closed lately) and the windows not over yet; None if the store is away
    (the caller keeps what it read last)."""
    now = time.time()
    try:
        incidents = store.incidents.listed(since=now - INCIDENTS_SHOWN)
        stored = store.windows.listed(ending_after=now)
    except Exception as exc:
        log.warning("cannot read incidents and maintenance windows from the store: %s", exc)
        return None
    return incidents, tuple(cfg.stored_window(w, conf.targets, conf.timezone) for w in stored)
