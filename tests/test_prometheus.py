"""A real Prometheus server (Debian's package) scrapes a running vigia."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import free_port, need_binary, need_root
from tests.vigiaproc import VigiaProcess

CONFIG = """
instance: prom-test
state_dir: {state}
defaults: {interval: 1s, timeout: 500ms}
targets:
  - {id: lo-1, probe: icmp, labels: {role: gateway}, icmp: {address: 127.0.0.1}}
  - {id: closed, probe: tcp, failures_before_down: 1, tcp: {host: 127.0.0.1, port: 9}}
"""


def query(port: int, promql: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=3) as resp:
        body = json.load(resp)
    assert body["status"] == "success"
    return list(body["data"]["result"])


def test_prometheus_scrapes_the_daemon(tmp_path: Path) -> None:
    need_root()
    prometheus = need_binary("prometheus", "prometheus")
    vigia = VigiaProcess(CONFIG, tmp_path).start()
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: vigia\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{vigia.port}']}}]\n"
    )
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
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
        prom.terminate()
        prom.wait(timeout=10)
        vigia.stop()
