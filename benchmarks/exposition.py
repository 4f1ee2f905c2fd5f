"""Exposition cost: render time for ~20,000 series and scrape time served from the cache."""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from config import Target
from domain.state import State, TargetState
from monitor.runtime.stats import DaemonStats
from monitor.web.endpoints import MetricsServer
from monitor.web.exposition import Exposition
from probes.icmp import IcmpSettings
from probes.result import ProbeResult


@dataclass
class FakeView:
    """A daemon view with N ICMP targets: stands in for a daemon that has probed them."""

    n: int
    stats: DaemonStats = field(default_factory=lambda: DaemonStats(version="bench"))

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        self.targets = tuple(
            Target(
                f"t{i}",
                "icmp",
                "datacenter",
                {"role": "gateway", "site": "cdc"},
                "",
                60,
                5,
                3,
                1,
                3,
                IcmpSettings(address="127.0.0.1"),
            )
            for i in range(self.n)
        )
        self.states = {}
        for t in self.targets:
            st = TargetState(t.id, 3, 1, State.UP, now)
            st.last = ProbeResult(
                t.id,
                "icmp",
                now,
                0.01,
                True,
                values={
                    "rtt_min_seconds": 1e-4,
                    "rtt_avg_seconds": 2e-4,
                    "rtt_max_seconds": 3e-4,
                    "rtt_jitter_seconds": 1e-5,
                    "loss_ratio": 0.0,
                    "packets_sent": 3.0,
                    "packets_received": 3.0,
                },
            )
            self.states[t.id] = st

    def current_targets(self) -> tuple[Target, ...]:
        return self.targets

    def current_states(self) -> dict[str, TargetState]:
        return self.states

    def current_zones(self) -> tuple[()]:
        return ()

    def current_zone_states(self) -> dict[str, object]:
        return {}

    def current_radius(self) -> None:
        return None

    def current_traffic(self) -> dict[str, object]:
        return {}

    def current_drills(self) -> tuple[None, dict[str, object]]:
        return None, {}

    def current_findings(self) -> list[object]:
        return []

    def current_incidents(self) -> list[object]:
        return []

    def current_agents(self) -> list[object]:
        return []

    def current_timezone(self) -> ZoneInfo:
        return ZoneInfo("America/Bogota")


def run(n_targets: int = 950, scrapes: int = 50) -> dict[str, float]:
    view = FakeView(n_targets)
    expo = Exposition(view, process_metrics=False)
    expo.refresh()
    renders = []
    for _ in range(5):
        t0 = time.perf_counter()
        expo.refresh()
        renders.append(time.perf_counter() - t0)
    body = expo.body()
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    server = MetricsServer("127.0.0.1:0", expo, lambda: True)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        urllib.request.urlopen(url, timeout=5).read()
        times = []
        for _ in range(scrapes):
            t0 = time.perf_counter()
            urllib.request.urlopen(url, timeout=5).read()
            times.append(time.perf_counter() - t0)
    finally:
        server.stop()
    times.sort()
    render = min(renders)
    return {
        "series": series,
        "render_ms": render * 1000,
        "render_us_per_series": render / series * 1e6,
        "scrape_ms_median": times[len(times) // 2] * 1000,
        "body_bytes": len(body),
    }
