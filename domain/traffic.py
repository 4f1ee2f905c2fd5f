"""Zone traffic from raw SNMP interface counters, across counter wraps and device reboots.

The SNMP probe hands back raw counters; this module remembers the previous
reading of each zone and turns the difference into bytes:

- first reading: a baseline, no traffic yet;
- the device rebooted (sysUpTime advanced less than our clock did): the counters
  restarted at zero, so the new value is the traffic since the reboot;
- a 32-bit counter went back without a reboot: it wrapped at 2**32;
- a 64-bit counter went back without a reboot: it was reset (cannot wrap in practice);
- a jump larger than the contracted bandwidth allows is refused as a bogus reading.

Totals accumulate per zone (exported as counters) and per local day (stored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Slack over the contracted bandwidth before a jump is called bogus (bursts, clock skew).
BANDWIDTH_SLACK = 2.0
# Seconds by which sysUpTime may lag our clock between two readings before it counts as a restart.
UPTIME_TOLERANCE = 1.0


@dataclass(frozen=True)
class Reading:
    at: float
    rx: float
    tx: float
    uptime: float
    bits: int


@dataclass
class ZoneTraffic:
    zone: str
    bandwidth_bytes_per_second: float | None = None
    last: Reading | None = None
    rx_total: float = 0.0
    tx_total: float = 0.0
    resets: int = 0
    wraps: int = 0
    refused: int = 0
    day: str = ""
    day_rx: float = 0.0
    day_tx: float = 0.0
    day_peak_clients: int = 0
    clients: float | None = None
    events: list[str] = field(default_factory=list)

    def update(self, reading: Reading, day: str, clients: float | None = None) -> tuple[float, float]:
        """Fold one reading in; returns the (rx, tx) bytes it adds."""
        if day != self.day:
            self.day, self.day_rx, self.day_tx, self.day_peak_clients = day, 0.0, 0.0, 0
        if clients is not None:
            self.clients = clients
            self.day_peak_clients = max(self.day_peak_clients, int(clients))
        previous, self.last = self.last, reading
        if previous is None:
            return 0.0, 0.0
        # The agent's clock must have advanced as much as ours since the last reading; if it advanced
        # less, it restarted in between (even when it has since been up longer than before).
        elapsed = reading.at - previous.at
        rebooted = reading.uptime + UPTIME_TOLERANCE + 0.01 * elapsed < previous.uptime + elapsed
        if rebooted:
            self.resets += 1
            self.events.append(f"reboot at {reading.at:.0f}: counters restarted from zero")
        rx = self._delta(previous.rx, reading.rx, reading.bits, rebooted)
        tx = self._delta(previous.tx, reading.tx, reading.bits, rebooted)
        limit = self._limit(reading.at - previous.at)
        if limit is not None and (rx > limit or tx > limit):
            self.refused += 1
            log.warning(
                "zone %s: SNMP counters jumped by %.0f/%.0f bytes in %.0f s, more than its bandwidth "
                "allows; reading ignored",
                self.zone,
                rx,
                tx,
                reading.at - previous.at,
            )
            return 0.0, 0.0
        self.rx_total += rx
        self.tx_total += tx
        self.day_rx += rx
        self.day_tx += tx
        return rx, tx

    def _delta(self, old: float, new: float, bits: int, rebooted: bool) -> float:
        if rebooted:
            return new
        if new >= old:
            return new - old
        if bits == 32:
            self.wraps += 1
            return new + 2**32 - old
        self.resets += 1
        return new

    def _limit(self, seconds: float) -> float | None:
        if self.bandwidth_bytes_per_second is None or seconds <= 0:
            return None
        return self.bandwidth_bytes_per_second * seconds * BANDWIDTH_SLACK + 1_000_000
