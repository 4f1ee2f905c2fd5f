"""Measured history written straight into a store, as the daemon's cycles would have: a sample of
each zone every cycle and a state change at each outage's edges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from domain.zone_state import FAILED, OK
from store.db import Store
from store.records import StateChange, ZoneSample


def write_cycles(store: Store, downs: Mapping[str, Sequence[tuple[float, float]]], times: Iterable[float]) -> None:
    """One cycle at each of ``times`` (one minute apart) for every zone of ``downs``, each zone down
    within its (start, end) spans (reason gateway_timeout) and up otherwise."""
    for t in times:
        changes, samples = [], []
        for zone, spans in downs.items():
            down = any(a <= t < b for a, b in spans)
            changes += [StateChange(zone, "up", "down", a, a, "gateway_timeout") for a, _ in spans if a == t]
            changes += [StateChange(zone, "down", "up", b, b) for _, b in spans if b == t]
            samples.append(ZoneSample(zone, t, 60.0, "down" if down else "up", FAILED if down else OK, True,
                                      None, None, "{}"))  # fmt: skip
        store.write_cycle([], changes, t, samples)
