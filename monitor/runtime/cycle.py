"""One probe cycle: every target of an interval group probed once, each under its own deadline.

Network checks go to the probe engine's loop (probes.engine): a check's deadline
counts from its own start, so no check can time out because another hung. Kinds
that probe in batches (probes.batch: ICMP, one raw socket per daemon) go through
their shared engine in one batch per kind and timeout, on threads of their own
beside the loop, so they are never queued behind other probes. A probe that
raises is reported as an internal error (a bug, counted and logged) and never
touches the other targets.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from domain.target import Target
from kernel.errors import ProbeSetupError
from probes import REGISTRY
from probes import result as r
from probes.batch import BatchEngine, BatchRequest
from probes.engine import DEFAULT_MAX_IN_FLIGHT, GRACE, Check, ProbeEngine, spread_offset
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
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        fast_loop: bool = True,
    ) -> None:
        self._own_engine = engine is None
        self.engine = engine if engine is not None else ProbeEngine(max_in_flight, fast_loop=fast_loop)
        # Each batch kind's shared engine, opened by its first batch (or why it cannot open).
        self._batch: dict[str, BatchEngine | ProbeSetupError] = {}
        self._batch_lock = threading.Lock()

    def batch_engine(self, kind: str) -> BatchEngine | ProbeSetupError:
        with self._batch_lock:
            if kind not in self._batch:
                factory = REGISTRY[kind].engine
                assert factory is not None
                try:
                    self._batch[kind] = factory()
                except ProbeSetupError as exc:
                    self._batch[kind] = exc
                    log.error("%s probes cannot run: %s", kind, exc)
            return self._batch[kind]

    def close(self) -> None:
        if self._own_engine:
            self.engine.close()
        for engine in self._batch.values():
            if not isinstance(engine, ProbeSetupError):
                engine.close()

    def run(self, targets: Sequence[Target], *, spread: float = 0.0) -> CycleOutcome:
        """Probe ``targets`` once; ``spread`` is the window their starts are spread over (seconds)."""
        t0 = time.monotonic()
        checks: list[Check] = []
        batches: dict[tuple[str, float], list[Target]] = {}
        for t in targets:
            if REGISTRY[t.probe].batch:
                batches.setdefault((t.probe, t.timeout), []).append(t)
            else:
                checks.append(Check(t.id, t.probe, t.settings, t.timeout, spread_offset(t.id, spread)))
        results: dict[str, ProbeResult] = {}
        exceptions = 0
        pending = self.engine.submit(checks) if checks else None
        threads = [_Batch(self, kind, group, t0 + timeout) for (kind, timeout), group in batches.items()]
        for batch in threads:
            batch.start()
        for batch in threads:
            batch.join()
            if batch.error is not None:  # a bug in a batch engine: every target of the batch says so
                exceptions += 1
                log.error("%s batch raised", batch.kind, exc_info=batch.error)
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


class _Batch(threading.Thread):
    """One batch on a thread of its own: it waits on its engine's receiver, never on a pool."""

    def __init__(self, runner: CycleRunner, kind: str, group: list[Target], deadline: float) -> None:
        super().__init__(name=f"{kind}-batch", daemon=True)
        self.runner, self.kind, self.group, self.deadline = runner, kind, group, deadline
        self.results: list[ProbeResult] = []
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            engine = self.runner.batch_engine(self.kind)
            if isinstance(engine, ProbeSetupError):
                self.results = [Timer().fail(t.id, t.probe, engine.reason, str(engine)) for t in self.group]
                return
            requests = [BatchRequest(t.id, t.settings, t.packets) for t in self.group]
            self.results = engine.probe_batch(requests, deadline=self.deadline)
        except Exception as exc:
            self.error = exc
