"""Probe kinds that run a cycle's targets as one batch through a shared engine (ICMP: one raw
socket for the whole daemon) rather than one coroutine per target. A kind says so in the registry
with the factory of its engine; the cycle runs every such kind alike and names none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from probes.result import ProbeResult
from probes.settings import Settings


@dataclass(frozen=True, slots=True)
class BatchRequest:
    target: str
    settings: Settings
    packets: int


class BatchEngine(Protocol):
    def probe_batch(self, requests: Sequence[BatchRequest], *, deadline: float) -> list[ProbeResult]:
        """One result per request by ``deadline`` (monotonic), whatever the peers do."""

    def close(self) -> None: ...
