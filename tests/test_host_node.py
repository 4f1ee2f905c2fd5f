"""host (psutil) and node (node_exporter) probes give the same values for the same machine."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from probes import result as r
from probes.host import HostSettings
from probes.node import NodeSettings
from tests.conftest import free_port, need_binary
from tests.probing import on_engine
from tests.servers import http_server

host_probe = on_engine("host")
node_probe = on_engine("node")


def test_host_reports_this_machine() -> None:
    res = host_probe("local", HostSettings(), deadline=time.monotonic() + 2)
    assert res.success
    v = res.values
    assert v["cpus"] == psutil.cpu_count()
    assert 0.0 <= v["cpu_utilisation_ratio"] <= 1.0
    assert v["memory_total_bytes"] == psutil.virtual_memory().total
    assert 0 < v["memory_available_bytes"] <= v["memory_total_bytes"]
    assert v["load1"] == pytest.approx(os.getloadavg()[0], abs=1.0)
    assert abs(v["boot_time_seconds"] - psutil.boot_time()) < 1
    names = {s.name for s in res.series}
    assert {"filesystem_size_bytes", "filesystem_avail_bytes", "network_receive_bytes_total"} <= names
    root = [s for s in res.series if s.name == "filesystem_size_bytes" and ("mountpoint", "/") in s.labels]
    if root:
        assert root[0].value == psutil.disk_usage("/").total


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[str]:
    binary = need_binary("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                assert proc.poll() is None, "node_exporter exited"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_node_exporter_scraped_for_real(node_exporter: str) -> None:
    settings = NodeSettings(url=node_exporter)
    first = node_probe("srv-1", settings, deadline=time.monotonic() + 5)
    assert first.success, first.message
    time.sleep(0.3)
    res = node_probe("srv-1", settings, deadline=time.monotonic() + 5)
    assert res.success, res.message
    v = res.values
    assert v["cpus"] == psutil.cpu_count()
    assert 0.0 <= v["cpu_utilisation_ratio"] <= 1.0
    assert v["memory_total_bytes"] == psutil.virtual_memory().total
    assert abs(v["boot_time_seconds"] - psutil.boot_time()) <= 1
    assert v["uptime_seconds"] > 0
    local = host_probe("local", HostSettings(), deadline=time.monotonic() + 2)
    fs_node = {dict(s.labels)["mountpoint"] for s in res.series if s.name == "filesystem_size_bytes"}
    fs_host = {dict(s.labels)["mountpoint"] for s in local.series if s.name == "filesystem_size_bytes"}
    assert fs_host & fs_node, (fs_host, fs_node)


def test_node_target_that_is_not_node_exporter() -> None:
    with http_server({"/metrics": lambda _h: (200, {}, b"# just some app\napp_requests_total 3\n")}) as srv:
        res = node_probe("x", NodeSettings(url=srv.url("/metrics")), deadline=time.monotonic() + 2)
    assert res.reason == r.PROTOCOL
    with http_server({"/metrics": lambda _h: (200, {}, b"<html>hello</html>")}) as srv:
        res = node_probe("x", NodeSettings(url=srv.url("/metrics")), deadline=time.monotonic() + 2)
    assert res.reason == r.PROTOCOL


def test_node_down_is_refused() -> None:
    res = node_probe("x", NodeSettings(url=f"http://127.0.0.1:{free_port()}/metrics"), deadline=time.monotonic() + 2)
    assert res.reason == r.REFUSED


def test_a_node_exporter_sending_nan_is_measured_and_stored_without_it(tmp_path: Path) -> None:
    # node_exporter writes NaN for a gauge it cannot read (a sensor, a load it lost): the check
    # is a measurement, its NaN is not stored, and nothing else in the write is held back by it.
    from store import db as st

    text = (b"node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10\nnode_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 5\n"
            b"node_load1 NaN\nnode_load5 0.5\nnode_load15 +Inf\nnode_boot_time_seconds 1.7e9\n")  # fmt: skip
    with http_server({"/metrics": lambda _h: (200, {}, text)}) as srv:
        res = node_probe("srv-nan", NodeSettings(url=srv.url("/metrics")), deadline=time.monotonic() + 2)
    assert res.success, res.message
    assert res.values["load5"] == 0.5 and res.values["load1"] != res.values["load1"]  # NaN, as measured
    store = st.Store(f"sqlite:///{tmp_path}/v.db", "cdc")
    store.migrate()
    other = r.ProbeResult("web", "http", res.started_at, 0.01, True, values={"status_code": 200.0})
    store.write_cycle([res, other], [], 0.0)
    at = res.started_at.timestamp()
    rows = {row.target: row.data for row in store.results_between(at - 1, at + 1)}
    assert rows["srv-nan"]["values"] == {k: v for k, v in res.values.items() if k not in ("load1", "load15")}
    assert rows["srv-nan"]["values"]["load5"] == 0.5
    assert rows["web"] == {"values": {"status_code": 200.0}}
    store.close()
