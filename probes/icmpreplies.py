"""A target's share of an ICMP batch, and the result its echo replies make (probes.icmp)."""

from __future__ import annotations

import itertools
import math
import socket
from typing import TYPE_CHECKING

import msgspec

from probes import result as r
from probes.result import ProbeResult, Timer

if TYPE_CHECKING:  # the settings' own module holds the engine, which imports this one
    from probes.icmp import IcmpSettings

KIND = "icmp"


class Job(msgspec.Struct):
    """One target's share of a batch (a msgspec struct: built in C, one per target per cycle)."""

    target: str
    settings: IcmpSettings
    packets: int
    family: int = socket.AF_INET
    address: str = ""
    error_reason: str = ""
    error_message: str = ""
    rtts: list[float | None] = msgspec.field(default_factory=list)


_ONE_ANSWERED = {"packets_sent": 1.0, "packets_received": 1.0, "loss_ratio": 0.0, "rtt_min_seconds": 0.0,
                 "rtt_max_seconds": 0.0, "rtt_avg_seconds": 0.0, "rtt_jitter_seconds": 0.0}  # fmt: skip


def summarise(job: Job, timer: Timer, duration: float) -> ProbeResult:
    """The result of a target's replies. The usual one, one packet answered, takes ``duration``, its
    batch's time so far, read once for all (every target of a batch waited alike)."""
    if job.packets == 1 and (rtt := job.rtts[0]) is not None:
        # The daemon's usual check, one packet answered, without the lists the general case needs.
        # (a copy of a made dict and three stores cost less than building it key by key)
        one = _ONE_ANSWERED.copy()
        one["rtt_min_seconds"] = one["rtt_max_seconds"] = one["rtt_avg_seconds"] = rtt
        return ProbeResult(job.target, KIND, timer.started_at, duration, True, "", "", one)
    got = [x for x in job.rtts if x is not None]
    values: dict[str, float] = {"packets_sent": float(job.packets), "packets_received": float(len(got))}
    loss = 1.0 - len(got) / job.packets
    values["loss_ratio"] = loss
    if got:
        values["rtt_min_seconds"] = min(got)
        values["rtt_max_seconds"] = max(got)
        values["rtt_avg_seconds"] = math.fsum(got) / len(got)
        diffs = [abs(b - a) for a, b in itertools.pairwise(got)]
        values["rtt_jitter_seconds"] = math.fsum(diffs) / len(diffs) if diffs else 0.0
    if job.error_reason and not got:
        return timer.fail(job.target, KIND, job.error_reason, job.error_message, values)
    if loss > job.settings.max_loss_ratio:
        return timer.fail(
            job.target,
            KIND,
            r.LOSS if got else r.TIMEOUT,
            f"{len(got)} of {job.packets} echo replies from {job.address or job.settings.address}",
            values,
        )
    return timer.ok(job.target, KIND, values)
