"""The daemon's side of the security findings: one evaluation after each probe cycle (what the
results showed) and a periodic sweep (targets gone quiet, drills, assets no longer configured).

Holds every known finding in memory (loaded from the store at start) so /metrics never reads the
database; what changed is handed to the store writer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

from config import Target
from domain import findings as fd
from domain.state import BUSY_REASONS, NO_DATA_REASONS, TargetState
from probes.result import ProbeResult


def _asset(target: Target) -> str:
    """Mail findings are about the domain; all others about the target."""
    domain = getattr(target.settings, "domain", None) if target.probe == "mail" else None
    return str(domain) if domain else target.id


class Audit:
    def __init__(self, policy: fd.Policy, no_data_after: int) -> None:
        self.policy = policy
        self.no_data_after = no_data_after
        self._lock = threading.Lock()
        self._all: dict[str, fd.Finding] = {}

    def load(self, known: Mapping[str, fd.Finding]) -> None:
        with self._lock:
            self._all = dict(known)

    def configure(self, policy: fd.Policy, no_data_after: int) -> None:
        with self._lock:
            self.policy, self.no_data_after = policy, no_data_after

    def current(self) -> list[fd.Finding]:
        with self._lock:
            return list(self._all.values())

    def _apply(self, p: fd.Pass, now: float) -> list[fd.Finding]:
        with self._lock:
            return fd.apply(self._all, p, self.policy, now)

    def after_cycle(
        self, results: Iterable[ProbeResult], targets: Mapping[str, Target], now: float
    ) -> list[fd.Finding]:
        p = fd.Pass()
        for res in results:
            t = targets.get(res.target)
            if t is None:
                continue
            fd.from_result(p, self.policy, res, t.settings, now)
            if res.reason in BUSY_REASONS:
                continue  # neither a gap yet nor a measurement: the sweep judges how long it lasts
            missing = f"{res.reason}: {res.message}"[:300] if res.reason in NO_DATA_REASONS else None
            fd.no_data(p, self.policy, t.id, missing)
        return self._apply(p, now)

    def sweep(
        self,
        now: float,
        targets: Sequence[Target],
        states: Mapping[str, TargetState],
        running_since: float,
        drills: Mapping[str, str] | None = None,
        overdue: Mapping[str, bool] | None = None,
    ) -> list[fd.Finding]:
        """Targets with no result for ``no_data_after`` intervals; drills; findings of removed assets."""
        p = fd.Pass()
        for t in targets:
            quiet = self.no_data_after * t.interval
            last, busy = _heard_of(states.get(t.id))
            if last is None and now - running_since < quiet:
                continue  # just started: not yet a fault
            since = last if last is not None else running_since
            if now - since >= quiet:
                what = f"no {'measurement' if busy else 'result'} for {now - since:.0f} s"
                fd.no_data(p, self.policy, t.id, f"{what} ({self.no_data_after} intervals){busy}"[:300])
        if drills is not None and overdue is not None:
            fd.drills(p, self.policy, drills, overdue)
        assets = {_asset(t) for t in targets} | set(drills or {}) | set(overdue or {})
        with self._lock:
            gone = {(f.asset, f.kind) for f in self._all.values() if f.status == fd.OPEN and f.asset not in assets}
        p.evaluated |= gone  # an asset no longer configured cannot keep a finding open
        return self._apply(p, now)


def _heard_of(st: TargetState | None) -> tuple[float | None, str]:
    """When the target last gave a result that counts (None: not since the start), and, while vigia
    has been too busy to measure it (``BUSY_REASONS``), what it said: that time then counts from
    the last result that measured the target."""
    if st is None or st.last is None:
        return None, ""
    res = st.last
    if res.reason not in BUSY_REASONS:
        return res.started_at.timestamp(), ""
    at = st.measured_at
    return (at.timestamp() if at is not None else None), f": {res.reason}: {res.message}"
