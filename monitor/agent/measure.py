"""The agent's checks on their intervals: each interval a cycle on a thread of its own (a long
download test never holds the gateway's check back), every result into the outbox at once."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from domain.target import Target
from kernel.errors import StoreError
from monitor.runtime.cycle import CycleRunner
from probes.result import ProbeResult
from store.outbox import Outbox

log = logging.getLogger("vigia.agent")


def record(res: ProbeResult) -> dict[str, object]:
    """A result as the outbox keeps it and the wire carries it (domain.agents.AgentResult)."""
    return {"at": res.started_at.timestamp(), "check": res.target, "probe": res.probe, "success": res.success,
            "duration": round(res.duration, 6), "reason": res.reason[:64], "message": res.message[:500],
            "values": {k: v for k, v in res.values.items() if math.isfinite(v)},  # the wire takes no NaN
            "labels": {k: v[:200] for k, v in res.labels.items()}}  # fmt: skip


class Measure:
    def __init__(self, outbox: Outbox, targets: Callable[[], list[Target]], stop: threading.Event) -> None:
        self.outbox, self.targets, self.stop = outbox, targets, stop
        self.runner = CycleRunner(max_in_flight=64, fast_loop=False)  # a few checks: memory before CPU
        self._running: dict[float, threading.Thread] = {}
        self._due: dict[float, float] = {}

    def loop(self) -> None:
        """Until ``stop``: start each interval's cycle when it is due (skipped while the last runs)."""
        wait = 0.0
        while not self.stop.wait(wait):
            now = time.monotonic()
            groups: dict[float, list[Target]] = {}
            for t in self.targets():
                groups.setdefault(t.interval, []).append(t)
            for interval, group in groups.items():
                if now >= self._due.get(interval, 0.0):
                    self._start(interval, group, now)
            # Sleep to the nearest due cycle, not a poll's tick: a cycle started up to a tick late and
            # timed from then ran 1 s checks every ~1.1 s. At most 0.2 s, so a reloaded list is seen.
            nearest = min((self._due[i] for i in groups), default=now + 0.2)
            wait = min(0.2, max(0.0, nearest - time.monotonic()))
        for thread in self._running.values():
            thread.join(timeout=5)
        self.runner.close()

    def _start(self, interval: float, group: list[Target], now: float) -> None:
        # Due times keep their phase (the last due plus the interval); a loop woken late by more than
        # an interval, as after a suspend, starts from now rather than running the missed cycles.
        due = self._due.get(interval, 0.0) + interval
        self._due[interval] = due if due > now else now + interval
        running = self._running.get(interval)
        if running is not None and running.is_alive():
            log.warning("checks every %gs: the last cycle still runs, this one skipped", interval)
            return
        thread = threading.Thread(target=self._cycle, args=(group,), name=f"agent-{interval:g}s", daemon=True)
        self._running[interval] = thread
        thread.start()

    def _cycle(self, group: list[Target]) -> None:
        try:
            outcome = self.runner.run(group)
            self.outbox.put(record(r) for r in outcome.results)
        except StoreError as e:  # the outbox's disk (full, gone): counted as dropped, reported
            log.error("%s", e)
        except Exception:  # a bug: logged, the next cycle tries again
            log.exception("a cycle of %d checks failed", len(group))
