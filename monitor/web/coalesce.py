"""Work asked for often and done at most once a second, on a thread of its own: what a cycle's end
asks of the pages and documents it publishes.

Why: a cycle's end (or an agent's batch) must not wait for a render, and a burst of asks (cycles
ending together, a history read) must make one render, not one each. What was asked last is
always done: an ask during a render makes one more after it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("vigia")


class Coalescer:
    def __init__(self, name: str, work: Callable[[], None], every: float = 1.0) -> None:
        self.name, self.work, self.every = name, work, every
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def ask(self) -> None:
        """Ask for the work to be done (returns at once)."""
        self._wanted.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():  # ends with the daemon (stop() sets both events)
            self._wanted.wait()
            if self._stopping.is_set():
                return
            self._wanted.clear()
            started = time.monotonic()
            try:
                self.work()
            except Exception:  # a bug in the work: say so, keep the thread for the next ask
                log.exception("%s failed", self.name)
            self._stopping.wait(max(0.0, self.every - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
