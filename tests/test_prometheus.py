"""A real Prometheus server (Debian's package) scrapes a running vigia."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import need_binary, need_root
from tests.servers import prometheus_api, prometheus_server
from tests.vigiaproc import VigiaProcess

CONFIG = """
instance: prom-test
state_dir: {state}
defaults: {interval: 1s, timeout: 500ms}
targets:
  - {id: lo-1, probe: icmp, labels: {role: gateway}, icmp: {address: 127.0.0.1}}
  - {id: closed, probe: tcp, failures_before_down: 1, tcp: {host: 127.0.0.1, port: 9}}
"""


def query(port: int, promql: str) -> list[dict[str, Any]]:
    return prometheus_api(port, "query", query=promql)


def test_prometheus_scrapes_the_daemon(tmp_path: Path) -> None:
    need_root()
    prometheus = need_binary("prometheus", "prometheus")
    vigia = VigiaProcess(CONFIG, tmp_path).start()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: vigia\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{vigia.port}']}}]\n"
    )
    try:
        with prometheus_server(prometheus, tmp_path / "prometheus.yml", tmp_path) as prom_port:
            vigia.wait_ready()

            def scraped() -> bool:
                got = query(prom_port, 'vigia_target_up{target="closed"}')
                return bool(got) and got[0]["value"][1] == "0"

            vigia.wait_for(scraped, timeout=40, message="Prometheus to scrape vigia")
            [up] = query(prom_port, 'up{job="vigia"}')
            assert up["value"][1] == "1"
            joined = query(prom_port, "vigia_target_up * on(target) group_left(role) vigia_target_info")
            roles = {r["metric"]["target"]: r["metric"].get("role", "") for r in joined}
            assert roles == {"lo-1": "gateway", "closed": ""}
            [rtt] = query(prom_port, 'vigia_icmp_rtt_seconds{target="lo-1",stat="avg"}')
            assert 0 < float(rtt["value"][1]) < 0.5
            failures = query(prom_port, 'vigia_probe_failure{target="closed"}')
            assert failures[0]["metric"]["reason"] == "refused"
    finally:
        vigia.stop()
