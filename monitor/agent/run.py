"""``vigia agent run``: the agent's lifecycle. Measuring and pushing never wait for each other: a
cut backhaul stops the pushes, not the measurements, which pile up in the outbox until it heals."""

from __future__ import annotations

import ctypes
import functools
import logging
import signal
import threading
import time
from pathlib import Path

from kernel.signals import SignalInbox
from monitor.agent.centre import Centre
from monitor.agent.checks import Checks
from monitor.agent.measure import Measure
from monitor.agent.push import Identity, Pusher
from monitor.agent.settings import AgentFile
from monitor.version import vigia_version
from store.outbox import Outbox

log = logging.getLogger("vigia.agent")

TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once (the question is asked before every batch): the process's own
    symbols, which hold it (ctypes.util's search would load shutil, subprocess and tempfile)."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


M_ARENA_MAX = -8  # mallopt(3)


def one_malloc_arena() -> None:
    """Keep the C allocator to one arena: glibc gives each thread that allocates an arena of its
    own, and the agent's few threads (measuring, pushing, the probe loop, ICMP's receiver) each left
    a part-used one resident; a box of a few hundred MB counts those megabytes, not the contention."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_ARENA_MAX, 1)


def give_back_memory() -> None:
    """Return the C heap's free pages to the system (malloc_trim(3)): a push's JSON and gzip buffers
    are freed but glibc keeps their pages, which a box counted in megabytes pays for until the next
    push. Microseconds, every push_every."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def boot_time(stat: str = "/proc/stat") -> float:
    """When the box booted (the kernel's btime, seconds since the epoch): the centre reads a power cut
    from a boot after the agent's previous push. Read here, not through psutil, whose import is a
    megabyte the agent has no other use for."""
    with open(stat, encoding="ascii") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError(f"{stat}: no btime line")


def clock_synced() -> bool:
    """Whether the kernel says NTP (or chrony, or systemd-timesyncd) keeps the clock in sync."""
    libc = _libc()
    if libc is None or not hasattr(libc, "adjtimex"):
        return False
    timex = ctypes.create_string_buffer(512)  # struct timex, modes 0: read only
    return bool(libc.adjtimex(timex) not in (-1, TIME_ERROR))


class Agent:
    def __init__(self, settings: AgentFile) -> None:
        self.settings = settings
        state = Path(settings.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(state / "outbox.db", max_age=settings.spool_max_age, max_bytes=settings.spool_bytes)
        self.centre = Centre(settings)
        self.checks = Checks(self.centre, settings.zone, state)
        self.stop = threading.Event()
        self.identity = Identity(settings.zone, vigia_version(), boot_time(), clock_synced())
        self.pusher = Pusher(self.outbox, self.centre, self.identity)
        self.measure = Measure(self.outbox, lambda: self.checks.targets, self.stop)

    def serve_forever(self) -> int:
        with SignalInbox(signal.SIGTERM, signal.SIGINT) as signals:
            return self._serve(signals)

    def _serve(self, signals: SignalInbox) -> int:
        measuring = threading.Thread(target=self.measure.loop, name="agent-measure", daemon=True)
        measuring.start()
        log.info("vigia agent of zone %s: centre %s", self.settings.zone, ", ".join(self.settings.centre))
        asked_at = -self.settings.refresh_checks
        while not self.stop.is_set():
            if time.monotonic() - asked_at >= self.settings.refresh_checks:
                asked_at = time.monotonic()
                self.checks.refresh()
            self.identity.clock_synced = clock_synced()
            wait = self.pusher.push_once()
            give_back_memory()
            if signals.wait(self.settings.push_every if wait < 0 else wait):
                self.stop.set()  # here, never in a handler: see kernel.signals
        measuring.join(timeout=10)
        self._last_push()
        self.outbox.close()
        return 0

    def _last_push(self) -> None:
        """At a stop, one attempt to hand over what is measured (it stays in the outbox if not)."""
        if self.pusher.last_answer == 200:
            self.pusher.push_once()
