"""Counters about vigia itself: written by the daemon's threads, read when /metrics is rendered.

Most fields have one writer (the writer thread owns the store's, the scheduler's lease job the
cluster's). Those that several threads change (cycle threads of different intervals, the
scheduler's listener) change only through ``add`` and ``cycle_ended``, under one lock; readers
see whole numbers either way."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace


@dataclass
class CycleStats:
    interval: float
    runs: int = 0
    overruns: int = 0
    skipped: int = 0
    last_duration: float = 0.0
    last_end: float = 0.0


# Why a listener refused or dropped a connection before answering it (the metric's reason label):
# a cap (full, per_client: the connection pushed out, or the new one when every other was busy),
# a request head not in within its deadline or too large, a request it could not parse, a TLS
# handshake that failed, a client that did not read its answer.
# A body over its handler's cap, or not in within its deadline.
REJECT_REASONS = ("full", "per_client", "head_timeout", "head_too_large", "bad_request", "tls", "write_timeout",
                  "body_too_large", "body_timeout")  # fmt: skip

# Why the centre refused a zone agent's batch (nothing of it stored): no or a wrong token, a token
# for another zone, over the size cap, out of shape, times out of bounds, a flood, the store away.
INGEST_REFUSALS = ("unauthorized", "forbidden", "too_large", "schema", "time", "rate", "store")


@dataclass
class IngestCounts:
    """Zone agents' batches at this instance: stored, results new and already held, refusals by
    reason. Written by the listener's ingest threads (under the lock), read at render time."""

    batches: int = 0
    results: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INGEST_REFUSALS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def stored(self, new: int, duplicates: int) -> None:
        with self._lock:
            self.batches += 1
            self.results += new
            self.duplicates += duplicates

    def refuse(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] += 1


@dataclass
class ListenerCounts:
    """One HTTP listener's connections: open now, and refused or dropped by reason. Written by the
    listener's loop thread only."""

    name: str
    open: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1


@dataclass
class DaemonStats:
    """Counters about vigia itself, updated by the daemon, read at render time."""

    version: str
    started_at: float = field(default_factory=time.time)
    reload_ok: bool = True
    reload_ok_at: float = field(default_factory=time.time)
    reloads: int = 0
    web_config_ok: bool = True
    web_config_reloads: int = 0
    store_errors: int = 0
    store_writes: int = 0
    store_write_seconds: float = 0.0
    store_pending: int = 0
    store_dropped: int = 0
    store_refused: int = 0  # items the store refused for what they held, set aside (runtime.writer)
    store_results_measured: int = 0  # results handed to the writer
    store_results_written: int = 0  # results the store took
    store_results_spilled: int = 0  # results kept in the spill file at a stop, for the next start
    agents: IngestCounts = field(default_factory=IngestCounts)  # zone agents' batches taken at this instance
    probe_exceptions: int = 0
    drill_status_errors: int = 0
    store_file_changes: dict[str, int] = field(default_factory=dict)  # vanished / replaced -> times
    listeners: dict[str, ListenerCounts] = field(default_factory=dict)  # by listener name, once listening
    probe_cancelled: int = 0  # probes cancelled past their deadline + grace (probes.engine)
    probe_late: int = 0  # timeouts the probe loop noticed too late to blame on the target (probes.engine)
    probe_held: int = 0  # checks whose start waited for the probe loop to catch up (probes.pacing)
    probe_loop_lag: float = 0.0  # the probe loop's worst lateness in the last cycle
    probe_max_in_flight: int = 0
    probe_in_flight_peak: int = 0
    month_close_ok_at: float = 0.0
    month_close_errors: int = 0
    report_deliveries_sent: int = 0  # months' reports handed to the SMTP server, one per recipient
    report_delivery_failures: int = 0  # tries that did not hand them over (retried, failed or uncertain)
    report_deliveries_undelivered: int = 0  # recipients failed for good or uncertain: an operator's call
    instance: str = ""
    ha_group: str = ""
    leader: bool = False
    leader_epoch: int = 0
    instances_alive: int = 0
    lease_errors: int = 0
    cycles: dict[float, CycleStats] = field(default_factory=dict)
    # Rows operators stored that the daemon could not use and left out, by kind (maintenance, ...).
    input_skipped: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, by: float = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def skipped_input(self, kind: str) -> None:
        with self._lock:
            self.input_skipped[kind] = self.input_skipped.get(kind, 0) + 1

    def track(self, interval: float) -> None:
        with self._lock:
            self.cycles.setdefault(interval, CycleStats(interval))

    def cycle_view(self) -> list[CycleStats]:
        """A copy of every interval's figures, for rendering while cycles go on."""
        with self._lock:
            return [replace(c) for c in self.cycles.values()]

    def cycle_ended(self, interval: float, *, duration: float | None = None, skipped: bool = False) -> None:
        """A cycle of ``interval`` ran (taking ``duration``) or was skipped: the previous still ran."""
        with self._lock:
            c = self.cycles.setdefault(interval, CycleStats(interval))
            if skipped:
                c.skipped += 1
                c.overruns += 1
                return
            assert duration is not None
            c.runs += 1
            c.last_duration, c.last_end = duration, time.time()
            if duration > interval:
                c.overruns += 1
