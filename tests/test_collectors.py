"""One collector per concern: describe() names every family collect() yields, so a clash fails at start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.web.collectors import COLLECTORS, Concern
from tests.vigiaproc import daemon_in_process

CONFIG = """
defaults: {interval: 1s, timeout: 500ms}
targets:
  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
  - {id: web, probe: http, http: {url: "http://127.0.0.1:9/"}}
  - {id: this-host, probe: host}
zones:
  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5, portal_url: "http://127.0.0.1:9/"}
"""


def test_every_family_a_collector_yields_is_described(tmp_path: Path) -> None:
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        daemon.run_cycle(1.0)
        for concern in COLLECTORS:
            collector = concern(daemon.live)
            described = {m.name for m in collector.describe()}
            yielded = {m.name for m in collector.collect()}
            assert yielded <= described, (concern.__name__, yielded - described)
        assert "vigia_http_duration_seconds" in {m.name for m in COLLECTORS[1](daemon.live).collect()}


class Intruder(Concern):
    """A collector that claims a name another concern owns."""

    def families(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("vigia_zone_up", "claimed twice", value=1)

    def describe(self) -> Iterator[Metric]:
        yield from self.families()


def test_a_name_claimed_twice_fails_when_the_registry_is_built(tmp_path: Path) -> None:
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        registry = CollectorRegistry(auto_describe=False)
        for concern in COLLECTORS:
            registry.register(concern(daemon.live))
        with pytest.raises(ValueError, match="vigia_zone_up"):
            registry.register(Intruder(daemon.live))
