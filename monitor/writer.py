"""The store's single writer thread: cycle batches in order, held and retried while the store fails.

Probing never waits for the store: a cycle hands its batch over and goes on. When a write fails the
batch is kept (bounded: the oldest results go first, counted, but their state changes are kept,
since outages matter more than samples) and retried; each flush first checks that the SQLite file
is still the one it opened.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from domain.findings import Finding
from kernel.errors import short
from monitor.stats import DaemonStats
from probes.result import ProbeResult
from store.db import StateChange, Store, ZoneSample

log = logging.getLogger("vigia")

# Results kept in memory while the store is failing; beyond this the oldest are dropped (and counted).
MAX_PENDING_RESULTS = 200_000


@dataclass
class Batch:
    results: list[ProbeResult]
    changes: list[StateChange]
    zone_samples: list[ZoneSample] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


class StoreWriter:
    """The single writer: takes cycle batches from a queue, retries failed ones, never blocks probing."""

    def __init__(self, store: Store, stats: DaemonStats) -> None:
        self.store = store
        self.stats = stats
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._pending: deque[Batch] = deque()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self.maintenance_jobs: queue.Queue[tuple[str, Any]] = queue.Queue()

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        self._queue.put(batch)

    def run_in_writer(self, name: str, fn: Any) -> None:
        """Queue a store job (rollups, retention) so it runs on the writer thread."""
        self.maintenance_jobs.put((name, fn))
        self._queue.put(Batch([], []))  # wake the loop

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=5.0)
            except queue.Empty:
                item = Batch([], [])  # retry pending batches while idle
            if item is None:
                self._flush(final=True)
                return
            if item.results or item.changes or item.zone_samples or item.findings:
                self._pending.append(item)
            self._flush(final=False)
            while not self.maintenance_jobs.empty():
                name, fn = self.maintenance_jobs.get_nowait()
                try:
                    fn()
                except Exception as exc:  # store trouble must not kill the writer
                    self.stats.store_errors += 1
                    log.error("store job %s failed: %s", name, exc)

    def _flush(self, *, final: bool) -> None:
        try:
            what = self.store.check_file()
        except Exception as exc:
            what = None
            self.stats.store_errors += 1
            log.error("the store file %s changed under vigia and could not be reopened: %s", self.store.file, exc)
        if what is not None:
            self.stats.store_file_changes[what] = self.stats.store_file_changes.get(what, 0) + 1
            log.error(
                "the store file %s %s while vigia ran: %s",
                self.store.file,
                what,
                "history copied into a new file from the open one"
                if what == "vanished"
                else "switched to the new file (schema brought up to date)",
            )
        while self._pending:
            batch = self._pending[0]
            t0 = time.perf_counter()
            try:
                self.store.write_cycle(batch.results, batch.changes, time.time(), batch.zone_samples, batch.findings)
            except Exception as exc:  # keep the batch, count, retry later
                self.stats.store_errors += 1
                log.error(
                    "cannot write to the store (%d results kept for retry): %s",
                    sum(len(b.results) for b in self._pending),
                    short(exc),
                )
                self._trim()
                if final:
                    log.error("stopping with %d results not stored", self.stats.store_pending)
                return
            self._pending.popleft()
            self.stats.store_writes += 1
            self.stats.store_write_seconds += time.perf_counter() - t0
            self.stats.store_pending = sum(len(b.results) for b in self._pending)

    def _trim(self) -> None:
        total = sum(len(b.results) for b in self._pending)
        while total > MAX_PENDING_RESULTS and len(self._pending) > 1:
            dropped = self._pending.popleft()
            # Keep the state changes of a dropped batch: outages matter more than samples.
            if dropped.changes:
                self._pending[0].changes[:0] = dropped.changes
            total -= len(dropped.results)
            self.stats.store_dropped += len(dropped.results)
        self.stats.store_pending = total
