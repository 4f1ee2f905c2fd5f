"""One probe cycle: every target of an interval group probed under one deadline.

The cycle owns the deadline. ICMP targets go through the shared engine in one
batch; every other target runs in a worker thread. A probe that hangs past
its deadline is reported as a timeout and the cycle moves on; a probe that
raises is reported as an internal error (a bug, counted and logged) and never
touches the other targets. A target whose previous probe is still stuck is
not probed again until it returns, so a hanging peer cannot eat the pool.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from monitor.config import Target
from probes import REGISTRY
from probes import result as r
from probes.errors import ProbeSetupError
from probes.icmp import IcmpEngine, IcmpRequest, IcmpSettings
from probes.result import ProbeResult, Timer

log = logging.getLogger(__name__)

# Time allowed after a target's deadline for its probe to hand back its result.
GRACE = 0.5


@dataclass
class CycleOutcome:
    results: list[ProbeResult]
    duration: float
    exceptions: int


class CycleRunner:
    def __init__(self, *, workers: int = 32, icmp: IcmpEngine | None = None) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
        self._icmp = icmp
        self._icmp_error: ProbeSetupError | None = None
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def icmp(self) -> IcmpEngine | None:
        if self._icmp is None and self._icmp_error is None:
            try:
                self._icmp = IcmpEngine()
            except ProbeSetupError as exc:
                self._icmp_error = exc
                log.error("ICMP probes cannot run: %s", exc)
        return self._icmp

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._icmp is not None:
            self._icmp.close()

    def run(self, targets: Sequence[Target]) -> CycleOutcome:
        t0 = time.monotonic()
        futures: dict[Future[list[ProbeResult]], list[Target]] = {}
        results: dict[str, ProbeResult] = {}
        exceptions = 0
        icmp_groups: dict[float, list[Target]] = {}
        for t in targets:
            with self._lock:
                stuck = t.id in self._busy
            if stuck:
                results[t.id] = Timer().fail(
                    t.id, t.probe, r.OVERRUN, "the previous probe of this target has not returned yet"
                )
                continue
            if REGISTRY[t.probe].batch:
                icmp_groups.setdefault(t.timeout, []).append(t)
                continue
            with self._lock:
                self._busy.add(t.id)
            fut = self.pool.submit(self._one, t, t0 + t.timeout)
            futures[fut] = [t]
        for timeout, group in icmp_groups.items():
            fut = self.pool.submit(self._icmp_batch, group, t0 + timeout)
            futures[fut] = group
        hard_end = t0 + max((t.timeout for t in targets), default=0.0) + GRACE
        done, not_done = wait(futures, timeout=max(0.0, hard_end - time.monotonic()))
        for fut in done:
            try:
                for res in fut.result():
                    results[res.target] = res
            except Exception as exc:  # a bug in a probe: report it, keep the cycle going
                exceptions += 1
                for t in futures[fut]:
                    log.exception("probe %s of target %s raised", t.probe, t.id, exc_info=exc)
                    results[t.id] = Timer().fail(t.id, t.probe, r.INTERNAL, f"probe raised {type(exc).__name__}: {exc}")
        for fut in not_done:
            for t in futures[fut]:
                log.warning("target %s: %s probe still running after its %.3gs deadline", t.id, t.probe, t.timeout)
                results[t.id] = Timer().fail(t.id, t.probe, r.TIMEOUT, f"no result within the {t.timeout:g}s deadline")
        ordered = [results[t.id] for t in targets if t.id in results]
        return CycleOutcome(ordered, time.monotonic() - t0, exceptions)

    def _one(self, target: Target, deadline: float) -> list[ProbeResult]:
        try:
            return [REGISTRY[target.probe].probe(target.id, target.settings, deadline=deadline)]
        finally:
            with self._lock:
                self._busy.discard(target.id)

    def _icmp_batch(self, group: Sequence[Target], deadline: float) -> list[ProbeResult]:
        engine = self.icmp()
        if engine is None:
            err = self._icmp_error
            reason = err.reason if err else r.INTERNAL
            return [Timer().fail(t.id, t.probe, reason, str(err)) for t in group]
        requests = []
        for t in group:
            assert isinstance(t.settings, IcmpSettings)
            requests.append(IcmpRequest(t.id, t.settings, t.packets))
        return engine.probe_batch(requests, deadline=deadline)
