"""The store's single writer thread: cycle batches in order, held and retried while the store fails.

Probing never waits for the store: a cycle hands its batch over and goes on. When a write fails the
batch is kept (bounded: the oldest results go first, counted, but their state changes are kept,
since outages matter more than samples) and retried; each flush first checks that the SQLite file
is still the one it opened.

A full disk is a day users meet: a failed write first gives the SQLite WAL back to the disk (a
checkpoint that truncates it: the WAL had grown into all the free space and, never checkpointed,
refilled every byte freed), then retries, so the store recovers as soon as there is room. What is
still held when the daemon stops goes to a spill file beside the store (written into the room of a
reserve kept for it) and is stored at the next start; only when even that fails are results lost,
and then the daemon says how many and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from kernel.errors import short
from monitor.runtime.stats import DaemonStats
from store.backends import refused_data
from store.db import Store
from store.spill import Batch, Spill

__all__ = ["Batch", "StoreWriter"]

log = logging.getLogger("vigia")

# Results kept in memory while the store is failing; beyond this the oldest are dropped (and counted).
MAX_PENDING_RESULTS = 200_000
SPILL_FILE = "pending-results.spill"
# Items the store refused for what they hold, one JSON line each, beside the spill file.
REFUSED_FILE = "refused-results.jsonl"
# Beyond this size the refused file takes no more (a rule refusing every result would fill the disk).
REFUSED_KEPT_BYTES = 64 << 20
# Refused items of one write named one by one in the log; the rest in one line.
TOLD_REFUSALS = 10
# After a write failed for want of room, the store is kept lean this long.
TIGHT_FOR = 3600.0


def _disk_full(exc: BaseException) -> bool:
    """Whether a write failed for want of room (SQLite's SQLITE_FULL, or ENOSPC)."""
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text or "enospc" in text


def _named(item: Batch) -> str:
    """A batch of one item as a log line names it."""
    if item.results:
        r = item.results[0]
        return f"{r.target}'s {r.probe} result of {r.started_at.isoformat()}"
    if item.changes:
        c = item.changes[0]
        return f"{c.subject}'s change {c.old} -> {c.new} at {datetime.fromtimestamp(c.at, UTC).isoformat()}"
    if item.zone_samples:
        z = item.zone_samples[0]
        return f"zone {z.zone}'s sample of {datetime.fromtimestamp(z.ts, UTC).isoformat()}"
    return f"finding {item.findings[0].id}" if item.findings else "nothing"


def _keep_refused(path: str, refused: list[tuple[Batch, Exception]]) -> str:
    """Append each refused item to ``path`` as a JSON line, with when and why; what became of them."""
    try:
        room = REFUSED_KEPT_BYTES - (os.path.getsize(path) if os.path.exists(path) else 0)
        lines = [json.dumps({"refused_at": time.time(), "why": short(exc), **item.described()}, default=str) + "\n"
                 for item, exc in refused]  # fmt: skip
        with open(path, "a", encoding="utf-8") as fh:
            for n, line in enumerate(lines):
                room -= len(line.encode())
                if room < 0:
                    full = f"{path} reached its cap of {REFUSED_KEPT_BYTES / 2**20:g} MiB"
                    return f"the first {n} kept, the rest not: {full}" if n else f"not kept: {full}"
                fh.write(line)
    except OSError as err:
        return f"cannot be kept in {path}: {err.strerror}"
    return f"kept in {path}"


class StoreWriter:
    """The single writer: takes cycle batches from a queue, retries failed ones, never blocks probing."""

    def __init__(self, store: Store, stats: DaemonStats, spill_dir: str | None = None) -> None:
        self.store = store
        self.stats = stats
        self._queue: queue.Queue[Batch | None] = queue.Queue()
        self._pending: deque[Batch] = deque()
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self.maintenance_jobs: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.spill = Spill(os.path.join(spill_dir, SPILL_FILE)) if spill_dir is not None else None
        self._spilled: set[int] = set()  # ids of the pending batches read back from the spill file
        self._failing = False
        self._tight_until = 0.0  # monotonic: until then the disk counts as short of room
        self.lost = 0  # results neither stored nor spilled when the writer stopped

    def start(self) -> None:
        if self.spill is not None:
            earlier = self.spill.load()
            if earlier:
                n = sum(len(b.results) for b in earlier)
                log.warning("%d results an earlier run could not store are read back from %s", n, self.spill.path)
                self._pending.extend(earlier)
                self._spilled = {id(b) for b in earlier}
                self.stats.store_pending = self._pending_results()
            self.spill.reserve()
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        self.stats.add("store_results_measured", len(batch.results))
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
                self._drain_queue()
                self._flush(final=True)
                return
            if not item.empty():
                self._pending.append(item)
            self._flush(final=False)
            while not self.maintenance_jobs.empty():
                name, fn = self.maintenance_jobs.get_nowait()
                try:
                    fn()
                except Exception as exc:  # store trouble must not kill the writer
                    self.stats.store_errors += 1
                    log.error("store job %s failed: %s", name, exc)

    def _drain_queue(self) -> None:
        """Batches submitted after the stop was asked (the last cycle's) join the pending ones."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and not item.empty():
                self._pending.append(item)

    def _flush(self, *, final: bool) -> None:
        self._check_file()
        if self._failing and self._pending:
            # The last write failed: give the WAL back to the disk before trying again.
            self.store.relieve()
        while self._pending:
            batch = self._pending[0]
            t0 = time.perf_counter()
            written = len(batch.results)
            try:
                self._write(batch)
            except Exception as exc:  # keep the batch, count, retry later
                failure = self._isolate(batch, exc) if refused_data(exc) else exc
                if failure is not None:
                    self._failed(failure, final)
                    return
                written = 0  # counted part by part
            self._pending.popleft()
            self._failing = False
            if time.monotonic() < self._tight_until:
                # Room is short: the WAL goes back to the disk after every write instead of growing
                # to its checkpoint threshold (4 MB), which would fill a small disk again at once.
                self.store.relieve()
            self.stats.store_writes += 1
            self.stats.add("store_results_written", written)
            self.stats.store_write_seconds += time.perf_counter() - t0
            self.stats.store_pending = self._pending_results()
            if self._spilled and id(batch) in self._spilled:
                self._spilled.discard(id(batch))
                if not self._spilled and self.spill is not None:
                    self.spill.clear()
                    log.info("the results read back from %s are stored", self.spill.path)

    def _write(self, batch: Batch) -> None:
        self.store.write_cycle(batch.results, batch.changes, time.time(), batch.zone_samples, batch.findings)

    def _isolate(self, batch: Batch, refusal: Exception) -> Exception | None:
        """The head batch, refused by the database for what it holds (no retry mends that, and every
        later batch waits behind it): written again in halves, down to the single items refused,
        which are set aside (``_set_aside``). None once the rest is stored; else the failure of another
        kind that stopped it, the batch's unwritten parts left at the head of the queue."""
        log.error("the store refused a write of %d results for what it holds (%s): writing it in parts to find "
                  "what it refuses", len(batch.results), short(refusal))  # fmt: skip
        todo, refused = [batch], list[tuple[Batch, Exception]]()  # todo: a stack, the next part on top
        try:
            for _ in range(2 * batch.size() + 1):  # the halving tree of n items has at most 2n - 1 parts
                if not todo:
                    break
                part = todo.pop()
                try:
                    self._write(part)
                    self.stats.add("store_results_written", len(part.results))
                except Exception as exc:
                    if not refused_data(exc):
                        rest = self._pending[0] = Batch.joined([part, *reversed(todo)])
                        if id(batch) in self._spilled:  # the spill file goes once what it held is stored
                            self._spilled.discard(id(batch))
                            self._spilled.add(id(rest))
                        return exc
                    if part.size() <= 1:
                        refused.append((part, exc))
                    else:
                        todo.extend(reversed(part.halves()))
            return None
        finally:
            self._set_aside(refused)

    def _set_aside(self, refused: list[tuple[Batch, Exception]]) -> None:
        """Items the store refuses: counted, kept with why as lines of REFUSED_FILE beside the store
        (measured, so an auditor can still read them) while the file is under REFUSED_KEPT_BYTES, and
        named in the log, the first TOLD_REFUSALS of a write one by one and the rest in one line: a
        rule that refuses every result of a cycle would otherwise log thousands of lines a minute."""
        if not refused:
            return
        self.stats.add("store_refused", sum(item.size() for item, _exc in refused))
        kept = "not kept (no state folder)"
        if self.spill is not None:
            path = os.path.join(os.path.dirname(self.spill.path), REFUSED_FILE)
            kept = _keep_refused(path, refused)
        for item, exc in refused[:TOLD_REFUSALS]:
            log.error("the store refuses %s: %s; %s", _named(item), short(exc), kept)
        if len(refused) > TOLD_REFUSALS:
            log.error("the store refuses %d more items of that write (%s); %s", len(refused) - TOLD_REFUSALS,
                      short(refused[-1][1]), kept)  # fmt: skip

    def _failed(self, exc: Exception, final: bool) -> None:
        self.stats.store_errors += 1
        self._failing = True
        if _disk_full(exc):
            self._tight_until = time.monotonic() + TIGHT_FOR
        log.error("cannot write to the store (%d results kept for retry): %s", self._pending_results(), short(exc))
        self.store.relieve()
        self._trim()
        if final:
            self._spill_pending()

    def _spill_pending(self) -> None:
        """At the stop, with the store still failing: the pending batches to the spill file."""
        held = self._pending_results()
        pending = list(self._pending)
        if self.spill is not None and self.spill.save(pending):
            log.warning("stopping with %d results not stored: kept in %s, stored at the next start",
                        held, self.spill.path)  # fmt: skip
            self.stats.add("store_results_spilled", held)
            return
        self.lost = held
        self.stats.add("store_dropped", held)
        log.error("stopping with %d results that could be neither stored nor spilled: they are LOST", held)

    def _check_file(self) -> None:
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

    def _pending_results(self) -> int:
        return sum(len(b.results) for b in self._pending)

    def _trim(self) -> None:
        total = self._pending_results()
        while total > MAX_PENDING_RESULTS and len(self._pending) > 1:
            dropped = self._pending.popleft()
            # Keep the state changes of a dropped batch: outages matter more than samples.
            if dropped.changes:
                self._pending[0].changes[:0] = dropped.changes
            total -= len(dropped.results)
            self.stats.store_dropped += len(dropped.results)
        self.stats.store_pending = total
