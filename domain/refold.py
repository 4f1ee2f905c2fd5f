"""Late results folded into history: a span of a zone judged again with what its agent measured.

An agent keeps measuring through a backhaul cut and delivers its results when the link returns;
a zone's agent that lost power reports, once it is back, that it booted during the silence. Both
are known only after the fact, when the zone's state periods of that span were already stored
from the central view alone. A refold replays the span: each stored cycle of the zone (its
central verdict, whether maintenance covered it, whether it was within hours) is judged again with
the agent's results of that moment (domain.vantage), through the same hysteresis as the live fold
(domain.zone_state), and the periods it yields replace the stored ones within the span
(``splice``). Replaying the same span twice gives the same periods: a refold is safe to repeat.

A stored cycle keeps the central view's verdict (``central``) beside the one judged with the
agent's results (``verdict``), which a refold brings up to date: every period stays traceable to
the centre's samples and the agent's rows it came from, and a span judged twice starts from the
same central verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from domain.availability import Period
from domain.vantage import AGENT_REASON, hindsight_window, inside_view, judge, reason_of
from domain.zone_state import Observation, ZoneState, ZoneStatus
from domain.zones import Zone
from probes.result import ProbeResult

# Zone states stored as periods of their own (up and unknown are the time between them).
PERIOD_STATES = frozenset({ZoneStatus.DOWN, ZoneStatus.MAINTENANCE, ZoneStatus.DEGRADED, ZoneStatus.NO_DATA})


@dataclass(frozen=True)
class Span:
    """A span of a zone to judge again: [start, end]; ``rebooted`` when the agent reported a boot
    within it (the silence was a power cut, if the centre found the zone dark too)."""

    zone: str
    start: float
    end: float
    rebooted: bool = False


@dataclass(frozen=True)
class CentralSample:
    """One stored cycle of a zone (store.records.ZoneSample): what the centre said then."""

    ts: float
    verdict: str
    status: str
    in_hours: bool


def _status_at(stored: Sequence[Period], at: float) -> Period | None:
    for p in stored:
        if p.start <= at and (p.end is None or p.end > at):
            return p
    return None


@dataclass(frozen=True)
class Replay:
    periods: list[Period]  # within the span, to splice into the stored ones
    verdicts: dict[float, str]  # each cycle's verdict judged again, by its time


def replay(zone: Zone, span: Span, samples: Sequence[CentralSample], inside: Sequence[ProbeResult],
           stored: Sequence[Period]) -> Replay:  # fmt: skip
    """The zone's periods within [span.start, span.end] judged again, and each cycle's verdict:
    ``samples`` its stored cycles in the span, oldest first; ``inside`` the agent's results from
    one hindsight window before the span to its end; ``stored`` the periods stored over the span."""
    window = hindsight_window(zone.agent.interval) if zone.agent is not None else 0.0
    first = _status_at(stored, span.start)
    zs = ZoneState(zone.id, zone.failures_before_down, zone.successes_before_up)
    zs.status = ZoneStatus(first.kind) if first is not None else ZoneStatus.UP
    zs.since = datetime.fromtimestamp(span.start, UTC)
    current: Period | None = replace(first, start=span.start, end=None) if first is not None else None
    out: list[Period] = []
    verdicts: dict[float, str] = {}
    results = sorted(inside, key=lambda r: r.started_at)
    latest: dict[str, ProbeResult] = {}
    k = 0
    for s in samples:
        if not span.start <= s.ts <= span.end:
            continue
        while k < len(results) and results[k].started_at.timestamp() <= s.ts:
            latest[results[k].target] = results[k]
            k += 1
        fresh = {c: r for c, r in latest.items() if r.started_at.timestamp() >= s.ts - window}
        view = inside_view(fresh, zone.thresholds) if fresh else None
        j = judge(s.verdict, view, rebooted=span.rebooted and view is None)
        verdicts[s.ts] = j.verdict
        held = _status_at(stored, s.ts)
        reason = reason_of(j) or (held.reason if held is not None else "")
        obs = Observation(j.verdict, reason, j.why, None, None, {})
        tr = zs.update(datetime.fromtimestamp(s.ts, UTC), obs, maintenance=s.status == "maintenance",
                       in_hours=s.in_hours)  # fmt: skip
        if tr is None:
            continue
        at = max(tr.at.timestamp(), span.start)
        if current is not None:
            out.append(replace(current, end=at))
            current = None
        if tr.new in PERIOD_STATES:
            current = Period(tr.new.value, at, None, tr.reason)
    if current is not None:
        out.append(replace(current, end=span.end))
    return Replay([p for p in out if p.end is None or p.end > p.start], verdicts)


def splice(stored: Sequence[Period], replayed: Sequence[Period], start: float, end: float) -> list[Period]:
    """The zone's periods once ``replayed`` (within [start, end]) replaces what ``stored`` said
    there: stored periods keep their parts outside the span; a period running into the span's
    edge and one of the same kind on the other side become one (an outage is counted once), its
    reason the measured cause if either part has one."""
    pieces: list[Period] = []
    for p in stored:
        p_end = math.inf if p.end is None else p.end
        if p.start < start:
            pieces.append(replace(p, end=min(p_end, start)))
        if p_end > end:
            pieces.append(replace(p, start=max(p.start, end)))
    for p in replayed:
        a, b = max(p.start, start), min(end, math.inf if p.end is None else p.end)
        if b > a:
            pieces.append(replace(p, start=a, end=b))
    out: list[Period] = []
    for p in sorted(pieces, key=lambda p: p.start):
        last = out[-1] if out else None
        if last is not None and last.kind == p.kind and last.end is not None and p.start <= last.end:
            joined = None if p.end is None else max(last.end, p.end)
            measured = [r for r in (last.reason, p.reason) if r.startswith(AGENT_REASON)]
            reason = measured[0] if measured else (last.reason or p.reason)
            out[-1] = Period(last.kind, last.start, joined, reason)
        else:
            out.append(p)
    return out


# Seconds a boot time may move between batches without a reboot (the agent computes it from its
# uptime and its clock, which NTP may have stepped).
REBOOT_NOISE = 60.0


def spans_of(zone: str, times: Sequence[float], received_at: float, late: float, *, boot_at: float,
             prior_boot_at: float | None, prior_push_at: float | None) -> list[Span]:  # fmt: skip
    """The spans of ``zone`` a batch received at ``received_at`` calls to be judged again:

    - its results older than ``late`` seconds (domain.vantage.late_after) came late: every cycle
      from the oldest of them to the batch's arrival was judged without them;
    - a boot (``boot_at``, on the centre's clock) since the agent's previous push: the silence from
      that push to this batch's first result measured after the boot is judged knowing the agent
      rebooted."""
    out = []
    behind = [t for t in times if t < received_at - late]
    if behind:
        out.append(Span(zone, min(behind), received_at))
    if (prior_boot_at is not None and prior_push_at is not None and boot_at > prior_boot_at + REBOOT_NOISE
            and boot_at >= prior_push_at - REBOOT_NOISE):  # fmt: skip
        # The outbox may carry results measured before the power went: the silence ends with the
        # first result measured after the boot.
        back = min((t for t in times if t >= boot_at), default=received_at)
        if back > prior_push_at:
            out.append(Span(zone, prior_push_at, back, rebooted=True))
    return out
