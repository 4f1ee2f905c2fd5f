"""Counters about vigia itself: written by the daemon's threads, read when /metrics is rendered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class CycleStats:
    interval: float
    runs: int = 0
    overruns: int = 0
    skipped: int = 0
    last_duration: float = 0.0
    last_end: float = 0.0


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
    probe_exceptions: int = 0
    drill_status_errors: int = 0
    store_file_changes: dict[str, int] = field(default_factory=dict)  # vanished / replaced -> times
    http_rejected: int = 0  # connections closed at once: web.max_connections were open
    probe_cancelled: int = 0  # probes cancelled past their deadline + grace (probes.engine)
    probe_max_in_flight: int = 0
    probe_in_flight_peak: int = 0
    month_close_ok_at: float = 0.0
    month_close_errors: int = 0
    cycles: dict[float, CycleStats] = field(default_factory=dict)
