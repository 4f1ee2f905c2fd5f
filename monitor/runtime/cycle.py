"""One probe cycle: every target of an interval group probed once, each under its own deadline.

Network checks go to the probe engine's loop (probes.engine): a check's deadline
counts from its own start, so no check can time out because another hung. ICMP
targets go through the shared ICMP engine in one batch per timeout, on threads
of their own beside the loop, so they are never queued behind other probes. A
probe that raises is reported as an internal error (a bug, counted and logged)
and never touches the other targets.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from config import Target
from kernel.errors import ProbeSetupError
from probes import REGISTRY
from probes import result as r
from probes.engine import DEFAULT_MAX_IN_FLIGHT, GRACE, Check, ProbeEngine, spread_offset
from probes.icmp import IcmpEngine, IcmpRequest, IcmpSettings
from probes.result import ProbeResult, Timer

log = logging.getLogger(__name__)

__all__ = ["GRACE", "CycleOutcome", "CycleRunner", "spread_window"]

# Default share of the interval over which one cycle's starts are spread, and its cap.
SPREAD_SHARE = 0.1
SPREAD_MAX = 10.0


def spread_window(interval: float, timeout: float, spread: float | None) -> float:
    """Seconds over which a cycle's check starts are spread: the configured ``spread`` (default a
    tenth of the interval, at most 10 s), never so long that a check could end after the interval."""
    wanted = min(interval * SPREAD_SHARE, SPREAD_MAX) if spread is None else spread
    return max(0.0, min(wanted, interval - timeout - GRACE))


@dataclass
class CycleOutcome:
    results: list[ProbeResult]
    duration: float
    exceptions: int


class CycleRunner:
    def __init__(
        self,
        *,
        engine: ProbeEngine | None = None,
        icmp: IcmpEngine | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._own_engine = engine is None
        self.engine = engine if engine is not None else ProbeEngine(max_in_flight)
        self._icmp = icmp
        self._icmp_error: ProbeSetupError | None = None
        self._icmp_lock = threading.Lock()

    def icmp(self) -> IcmpEngine | None:
        with self._icmp_lock:
            if self._icmp is None and self._icmp_error is None:
                try:
                    self._icmp = IcmpEngine()
                except ProbeSetupError as exc:
                    self._icmp_error = exc
                    log.error("ICMP probes cannot run: %s", exc)
            return self._icmp

    def close(self) -> None:
        if self._own_engine:
            self.engine.close()
        if self._icmp is not None:
            self._icmp.close()

    def run(self, targets: Sequence[Target], *, spread: float = 0.0) -> CycleOutcome:
        """Probe ``targets`` once; ``spread`` is the window their starts are spread over (seconds)."""
        t0 = time.monotonic()
        checks: list[Check] = []
        icmp_groups: dict[float, list[Target]] = {}
        for t in targets:
            if REGISTRY[t.probe].batch:
                icmp_groups.setdefault(t.timeout, []).append(t)
            else:
                checks.append(Check(t.id, t.probe, t.settings, t.timeout, spread_offset(t.id, spread)))
        results: dict[str, ProbeResult] = {}
        exceptions = 0
        pending = self.engine.submit(checks) if checks else None
        icmp_threads = [_IcmpBatch(self, group, t0 + timeout) for timeout, group in icmp_groups.items()]
        for batch in icmp_threads:
            batch.start()
        for batch in icmp_threads:
            batch.join()
            if batch.error is not None:  # a bug in the ICMP engine: every target of the batch says so
                exceptions += 1
                log.error("ICMP batch raised", exc_info=batch.error)
                for t in batch.group:
                    results[t.id] = Timer().fail(
                        t.id, t.probe, r.INTERNAL, f"probe raised {type(batch.error).__name__}: {batch.error}"
                    )
            for res in batch.results:
                results[res.target] = res
        if pending is not None:
            try:
                outcome = pending.result()
            except concurrent.futures.CancelledError:  # the engine closed under us (shutdown)
                outcome = None
            if outcome is not None:
                exceptions += outcome.exceptions
                for res in outcome.results:
                    results[res.target] = res
        ordered = [results[t.id] for t in targets if t.id in results]
        return CycleOutcome(ordered, time.monotonic() - t0, exceptions)


class _IcmpBatch(threading.Thread):
    """One ICMP batch on a thread of its own: it waits on the engine's receiver, never on a pool."""

    def __init__(self, runner: CycleRunner, group: list[Target], deadline: float) -> None:
        super().__init__(name="icmp-batch", daemon=True)
        self.runner, self.group, self.deadline = runner, group, deadline
        self.results: list[ProbeResult] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            engine = self.runner.icmp()
            if engine is None:
                err = self.runner._icmp_error
                reason = err.reason if err else r.INTERNAL
                self.results = [Timer().fail(t.id, t.probe, reason, str(err)) for t in self.group]
                return
            requests = []
            for t in self.group:
                assert isinstance(t.settings, IcmpSettings)
                requests.append(IcmpRequest(t.id, t.settings, t.packets))
            self.results = engine.probe_batch(requests, deadline=self.deadline)
        except Exception as exc:
            self.error = exc
