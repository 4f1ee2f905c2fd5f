"""The rows vigia writes and reads back, as plain values: state changes, zone samples, stored
states, open periods, findings; and how a probe result's data is encoded for its row."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa

from domain.findings import Finding
from domain.state import Transition
from probes.result import ProbeResult

# msgspec writes a result's data in a seventh of json.dumps' time (a dumps call builds its encoder
# anew; at 4,000 results a cycle that was a quarter of the store writer's CPU). It writes NaN and
# infinities as null where json refuses them: data holding a null goes through json, as before.
_JSON = msgspec.json.Encoder()
log = logging.getLogger("vigia")


def encode(result: ProbeResult) -> str:
    data: dict[str, Any] = {}
    if result.values:
        data["values"] = result.values
    if result.labels:
        data["labels"] = result.labels
    if result.series:
        data["series"] = [[s.name, dict(s.labels), s.value] for s in result.series]
    text = _JSON.encode(data)
    if b"null" in text:
        return json.dumps(_numbers_only(result, data), separators=(",", ":"), allow_nan=False, default=_finite)
    return text.decode()


def _finite(value: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {value!r}")


# (target, probe, names) already told: a peer that always sends NaN is told once, not every check.
_TOLD: set[tuple[str, str, tuple[str, ...]]] = set()


def _numbers_only(result: ProbeResult, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the values that are not finite numbers (a node_exporter's NaN gauge, an
    infinite ratio): JSON cannot hold them and a stored column reads NaN as "not reported". They
    are refused alone, named with their target in the log: the result's other figures, and the
    other results of its write, are stored (one refused value used to stop every write after it)."""
    values = data.get("values", {})
    kept = clean(values)
    series = [s for s in data.get("series", []) if math.isfinite(s[2])]
    dropped = sorted(set(values) - set(kept)) + [s[0] for s in data.get("series", []) if not math.isfinite(s[2])]
    if not dropped:
        return data
    told = (result.target, result.probe, tuple(dropped))
    if told not in _TOLD and len(_TOLD) < 10_000:
        _TOLD.add(told)
        log.warning("%s (%s): not stored, not finite numbers: %s", result.target, result.probe, ", ".join(dropped))
    out = {k: v for k, v in data.items() if k not in ("values", "series")}
    if kept:
        out["values"] = kept
    if series:
        out["series"] = series
    return out


def clean(values: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in values.items() if math.isfinite(v)}


# States that are periods worth a row of their own (targets: down, maintenance; zones: all four).
PERIOD_KINDS = frozenset({"down", "maintenance", "degraded", "no_data"})


@dataclass(frozen=True)
class StateChange:
    """A target or zone changing state; ``start`` is when the new state really began."""

    subject: str
    old: str
    new: str
    at: float
    start: float
    reason: str = ""
    message: str = ""

    @classmethod
    def of(cls, t: Transition) -> StateChange:
        at = t.at.timestamp()
        start = t.outage_start.timestamp() if t.outage_start else at
        return cls(t.target, t.old.value, t.new.value, at, start, t.reason, t.message)


@dataclass(frozen=True)
class ZoneSample:
    """One zone in one cycle: what its checks said, for exact availability and traceability."""

    zone: str
    ts: float
    interval: float
    status: str
    verdict: str
    in_hours: bool
    loss: float | None
    rtt: float | None
    checks: str  # JSON {"gateway": true, ...}
    central: str = ""  # the central view's verdict, when the zone's agent decided ``verdict``


@dataclass(frozen=True)
class StoredState:
    state: str
    since: float | None


@dataclass(frozen=True)
class OpenOutage:
    target: str
    kind: str
    started_at: float
    reason: str


def finding_of(row: sa.Row[Any]) -> Finding:
    return Finding(**{k: getattr(row, k) for k in Finding.__dataclass_fields__})
