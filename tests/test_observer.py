"""The observer is pure: results and a time in, state and store rows out; no scheduler, no socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import config as cfg
from domain.state import State
from monitor.runtime.observer import Observer
from probes.result import ProbeResult
from reports import status_page

CONFIG = """
defaults: {interval: 10s, timeout: 2s, failures_before_down: 3}
targets:
  - {id: web, probe: tcp, tcp: {host: 127.0.0.1, port: 80}}
zone_defaults: {interval: 10s, timeout: 2s, failures_before_down: 2}
zones:
  - id: ZD-01
    name: Plaza de la Aduana
    lat: 10.42
    lon: -75.55
    gateway: 10.213.1.2
    snmp: {address: 10.213.1.2, community: {env: SNMP_COMMUNITY}, if_index: 2}
"""


def conf(tmp_path: Path, text: str = CONFIG) -> cfg.Config:
    path = tmp_path / "c.yml"
    path.write_text(text)
    return cfg.parse(str(path), state_dir=str(tmp_path))


def result(target: str, probe: str, ok: bool, at: datetime, **values: float) -> ProbeResult:
    return ProbeResult(target, probe, at, 0.01, ok, "" if ok else "timeout", "", dict(values))


def test_a_cycle_folds_into_targets_zones_and_traffic(tmp_path: Path) -> None:
    observer = Observer(conf(tmp_path))
    observer.restore({}, [], "2025-03-01")
    t0 = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
    gateway, snmp = "ZD-01:gateway", "ZD-01:snmp"
    for i in range(3):  # the web target fails three times; the zone's gateway twice, then answers
        at = t0 + timedelta(seconds=10 * i)
        results = [
            result("web", "tcp", False, at),
            result(gateway, "icmp", i == 2, at, loss_ratio=0.0 if i == 2 else 1.0, rtt_avg_seconds=0.002),
            result(snmp, "snmp", True, at, if_in_octets=1000.0 * (i + 1), if_out_octets=500.0 * (i + 1),
                   sys_uptime_seconds=100.0 + 10 * i, counter_bits=64.0, clients=7.0),
        ]  # fmt: skip
        folded = observer.fold(10.0, results, at)
        if i == 1:
            # The zone's gateway is a target of its own, and the zone follows it.
            assert [(c.subject, c.new) for c in folded.changes] == [(gateway, "down"), ("ZD-01", "down")]
    assert observer.states["web"].state == State.DOWN
    assert observer.zone_states["ZD-01"].status.value == "up"
    assert [s.zone for s in folded.samples] == ["ZD-01"]
    back = observer.fold(10.0, [result("web", "tcp", True, t0 + timedelta(minutes=1))], t0 + timedelta(minutes=1))
    assert [(c.subject, c.new) for c in back.changes if c.subject == "web"] == [("web", "up")]
    [usage] = folded.usage
    assert (usage.zone, usage.usage.input_octets, usage.peak_clients) == ("ZD-01", 2000.0, 7)  # type: ignore[union-attr]


def test_a_reload_keeps_the_state_of_what_is_still_configured(tmp_path: Path) -> None:
    observer = Observer(conf(tmp_path))
    observer.restore({}, [], "2025-03-01")
    at = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
    for i in range(3):
        observer.fold(10.0, [result("web", "tcp", False, at + timedelta(seconds=10 * i))], at)
    new = conf(
        tmp_path,
        CONFIG.replace("  - {id: web,", "  - {id: api, probe: tcp, tcp: {host: 127.0.0.1, port: 81}}\n  - {id: web,"),
    )
    observer.reconfigure(new)
    assert observer.states["web"].state == State.DOWN
    assert observer.states["api"].state == State.UNKNOWN


# The same zone with an agent inside it instead of its access point's counters.
AGENT = CONFIG.replace(
    "    snmp: {address: 10.213.1.2, community: {env: SNMP_COMMUNITY}, if_index: 2}\n",
    '    agent: {interval: 10s, gateway: 192.168.50.1, anchors: [198.51.100.1], portal_url: "http://192.168.50.10/"}\n',
)


def test_the_agents_inside_view_decides_the_zone_and_names_the_cause(tmp_path: Path) -> None:
    observer = Observer(conf(tmp_path, AGENT))
    observer.restore({}, [], "2025-03-01")
    t0 = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
    central_down = "ZD-01:gateway"

    def cycle(i: int, *inside: tuple[str, bool]) -> list[tuple[str, str, str]]:
        at = t0 + timedelta(seconds=10 * i)
        observer.inside_results("ZD-01", [result(check, "icmp", ok, at - timedelta(seconds=3)) for check, ok in inside])
        folded = observer.fold(10.0, [result(central_down, "icmp", False, at, loss_ratio=1.0)], at)
        return [(c.subject, c.new, c.reason) for c in folded.changes if c.subject == "ZD-01"]

    fine = (("gateway", True), ("internet:198.51.100.1", True), ("portal", True))
    # The centre cannot reach the zone, but citizens inside browse fine: a monitoring-path event.
    assert cycle(0, *fine) == [("ZD-01", "up", "monitoring_path")] and cycle(1, *fine) == []
    assert observer.zone_states["ZD-01"].status.value == "up"
    # The backhaul is cut: gateway up inside, the internet gone. Down, cause measured: enlace.
    cut = (("gateway", True), ("internet:198.51.100.1", False), ("portal", False))
    cycle(2, *cut)
    assert cycle(3, *cut) == [("ZD-01", "down", "agent_enlace")]
    # The public status page says what the agent measured: citizens read why their zone is dark.
    zones = observer.config.zones
    page = status_page.view("Zonas", zones, observer.zone_states, t0, ZoneInfo("America/Bogota"))
    assert [(z.state, z.cause) for z in page.zones] == [("down", "enlace")]
    assert "Causa medida en la zona: corte del enlace" in status_page.html(page, "es", max_age=60)
    # The agent falls silent too: after its results age out (2 intervals + 30 s) the centre decides.
    for i in range(4, 10):
        cycle(i)
    assert observer.zone_states["ZD-01"].status.value == "down"
