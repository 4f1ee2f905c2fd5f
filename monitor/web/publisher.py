"""What operators enter from the command line while the daemon runs (incidents and maintenance
windows, read from the store after each cycle: no reload needed), and what is published from it
all after each cycle: the read-only API and the public status page."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import config as cfg
from config import Maintenance
from domain.incidents import Incident
from domain.windows import span_problem
from kernel.errors import StoreError
from kernel.text import one_line
from monitor.runtime.live import LiveView
from monitor.web import api
from monitor.web.coalesce import Coalescer
from monitor.web.statuspage import PublicStatus
from store.agents import AgentRow
from store.db import Store

log = logging.getLogger("vigia")

# Incidents closed this long ago still show in the status page's feed.
INCIDENTS_SHOWN = 28 * 86400.0


def read(
    store: Store, conf: cfg.Config, skipped: Callable[[str], None] = lambda _: None
) -> tuple[list[Incident], tuple[Maintenance, ...]] | None:
    """Incidents (open, and closed lately) and the windows not over yet; None if the store is away
    (the caller keeps what it read last). A stored window the daemon cannot use (a row written
    before times were checked, or by hand) is left out with a log line and ``skipped("maintenance")``:
    one bad row must not keep every other window, or the daemon's start, from applying."""
    now = time.time()
    try:
        incidents = store.incidents.listed(since=now - INCIDENTS_SHOWN)
        stored = store.windows.listed(ending_after=now)
    except Exception as exc:
        log.warning("cannot read incidents and maintenance windows from the store: %s", exc)
        return None
    windows = []
    for w in stored:
        found = span_problem(w.start, w.end, now)
        problem = None if found is None else found[1]
        try:
            if problem is None:
                windows.append(cfg.stored_window(w, conf.targets, conf.timezone))
        except (ValueError, OverflowError, OSError) as exc:
            problem = str(exc)
        if problem is not None:
            skipped("maintenance")
            log.warning("maintenance window %d in the store is not applied: %s (vigia maintenance cancel %d)",
                        w.id, one_line(problem), w.id)  # fmt: skip
    return incidents, tuple(windows)


class Publisher:
    """Operators' input read from the store into the runtime, and the API and status page
    refreshed from the LiveView after every cycle."""

    def __init__(self, live: LiveView, version: str) -> None:
        self.live = live
        runtime = live.runtime
        self.store, self.observer, self.lock = runtime.store, runtime.observer, runtime.lock
        self.incidents: list[Incident] = []
        self.agents: list[AgentRow] = []
        self.documents = api.Documents()
        # the API's documents made off the cycle's thread, at most once a second, while they are read
        self.renders = Coalescer("api-render", self.render)
        self.api = api.Api(version, self.renders.ask)
        self.public = (
            PublicStatus(self.conf, live.copied_zone_states, lambda: self.incidents, self.observer.windows,
                         self.store.reader)
            if runtime.config.status_page is not None
            else None
        )  # fmt: skip

    def conf(self) -> cfg.Config:
        return self.live.runtime.config

    def skipped(self, kind: str) -> None:
        """A stored row left out (counted in vigia's own metrics)."""
        self.live.stats.skipped_input(kind)

    def start(self) -> None:
        self.read()
        self.render()  # the documents before the listeners answer
        self.renders.start()
        if self.public is not None:
            self.public.start()

    def read(self) -> None:
        """What operators entered, from the store (a job of its own: never a cycle's thread, which
        must not wait on a store that is away); the store away, what was read last stays."""
        got = read(self.store, self.conf(), self.skipped)
        if got is None:
            return
        self.incidents, windows = got
        with self.lock:
            self.observer.stored_windows = windows
        try:
            self.agents = self.store.agents(self.conf().ha_group).listed()
        except StoreError as exc:
            log.warning("cannot read the zone agents from the store: %s", exc)

    def after_cycle(self) -> None:
        """Ask for the API (when it is read) and the status page from the cycle's states (returns at once)."""
        if self.api.changed():
            self.renders.ask()
        if self.public is not None:
            self.public.refresh()

    def render(self) -> None:
        """The API's documents from the cycle's states and what was read last (no store)."""
        wanted = self.api.wanted()
        targets, zones = self.live.copied_states()
        docs = self.documents.build(self.conf(), targets, zones, self.incidents, self.observer.windows())
        self.api.refresh(docs, wanted)

    def stop(self) -> None:
        self.renders.stop()
        if self.public is not None:
            self.public.stop()
