"""deploy/prometheus/federation.yml end to end: a vigia, its site's Prometheus (the shipped job and
rules, with the site's external label) and a Prometheus above the sites federating it; what the
district sees carries the site."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import yaml

from tests.conftest import need_binary
from tests.servers import fast_rules, prometheus_api, prometheus_server
from tests.vigiaproc import ROOT, VigiaProcess, one_target_config

PROM = ROOT / "deploy" / "prometheus"


def wait(port: int, promql: str, timeout: float = 60.0) -> list[dict[str, object]]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = prometheus_api(port, "query", query=promql)
        except OSError:  # not listening yet
            got = []
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"nothing for {promql} in {timeout:g}s")


def test_the_district_prometheus_federates_the_sites_rules(tmp_path: Path) -> None:
    prometheus = need_binary("prometheus", "prometheus")
    site_dir, top_dir = tmp_path / "site", tmp_path / "district"
    site_dir.mkdir()
    top_dir.mkdir()
    with ExitStack() as stack:
        vigia = VigiaProcess(one_target_config("cdc-sede-a"), tmp_path).start()
        stack.callback(vigia.stop)
        vigia.wait_ready()
        site = yaml.safe_load((PROM / "prometheus.yml").read_text())
        site["global"].update(scrape_interval="1s", evaluation_interval="1s")
        site["rule_files"] = [
            str(fast_rules(PROM / "rules" / Path(f).name, site_dir / Path(f).name)) for f in site["rule_files"]
        ]
        [job] = site["scrape_configs"]
        for key in ("scheme", "tls_config", "basic_auth"):  # the lab's vigia serves plain HTTP
            job.pop(key)
        job["static_configs"][0]["targets"] = [f"127.0.0.1:{vigia.port}"]
        (site_dir / "prometheus.yml").write_text(yaml.safe_dump(site, sort_keys=False))
        site_port = stack.enter_context(prometheus_server(prometheus, site_dir / "prometheus.yml", site_dir))

        top = yaml.safe_load((PROM / "federation.yml").read_text())
        top["global"].update(scrape_interval="1s", evaluation_interval="1s")
        top["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{site_port}"]}]
        (top_dir / "prometheus.yml").write_text(yaml.safe_dump(top, sort_keys=False))
        top_port = stack.enter_context(prometheus_server(prometheus, top_dir / "prometheus.yml", top_dir))

        [up] = wait(top_port, 'target:vigia_target_up:avg5m{site="cdc", target="closed"}')
        assert float(up["value"][1]) == 0.0  # the closed port is down, as the site computed it
        [count] = wait(top_port, 'vigia:zones_up:count{site="cdc"}')
        assert float(count["value"][1]) == 0.0
        [leader] = wait(top_port, 'vigia_leader{site="cdc", vigia_instance="cdc-sede-a"}')
        assert float(leader["value"][1]) == 1.0
        # Aggregates only: the sites' raw per-target series stay at the sites.
        assert prometheus_api(top_port, "query", query='vigia_target_up{site="cdc"}') == []
