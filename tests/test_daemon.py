"""The daemon end to end: a real process, real targets, real signals, the real store."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need_binary, need_root
from tests.servers import tcp_server
from tests.vigiaproc import VigiaProcess

BASE = """
instance: test
state_dir: {state}
defaults: {interval: 1s, timeout: 500ms, failures_before_down: 2}
targets:
  - {id: lo-1, probe: icmp, labels: {role: gateway, site: cdc}, icmp: {address: 127.0.0.1}}
  - {id: lo-2, probe: icmp, icmp: {address: 127.0.0.2, packets: 2}}
  - {id: self-http, probe: http, http: {url: "http://127.0.0.1:{port}/-/healthy", body_regex: OK}}
  - {id: this-host, probe: host, interval: 2s}
"""


@pytest.fixture
def vigia(tmp_path: Path) -> Iterator[VigiaProcess]:
    need_root()
    proc = VigiaProcess(BASE, tmp_path)
    yield proc
    proc.stop()


def test_serves_metrics_that_promtool_accepts(vigia: VigiaProcess, tmp_path: Path) -> None:
    promtool = need_binary("promtool", "prometheus")
    (tmp_path / "plan.yml").write_text(
        "version: p1\nservices:\n  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}\ndrills:\n"
        "  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, max_duration: 10m,\n"
        "     schedule: {cron: '0 3 * * *'}}\n"
    )
    # A zone with weekly hours too: every family, zones' included, passes promtool's lint.
    zone = (
        "zones:\n  - {id: ZD-01, name: Plaza, barrio: Centro, localidad: L, lat: 10.4, lon: -75.5, "
        "gateway: 127.0.0.1, hours: '06:00-22:00', portal_url: 'http://127.0.0.1:{port}/-/healthy'}\n"
    ).replace("{port}", str(vigia.port))
    vigia.config.write_text(vigia.config.read_text() + f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n" + zone)
    vigia.start().wait_ready()
    vigia.wait_for(lambda: vigia.value("vigia_target_up", target="self-http") == 1.0, message="self-http up")
    assert vigia.value("vigia_target_up", target="lo-1") == 1.0
    assert vigia.value("vigia_probe_success", target="lo-2", probe="icmp") == 1.0
    assert vigia.value("vigia_icmp_packets_sent", target="lo-2") == 2.0
    assert vigia.value("vigia_icmp_rtt_seconds", target="lo-1", stat="avg") > 0
    assert vigia.value("vigia_target_info", target="lo-1", role="gateway", site="cdc", group="datacenter") == 1.0
    assert vigia.value("vigia_host_memory_total_bytes", target="this-host") > 0
    assert vigia.value("vigia_build_info") == 1.0
    assert vigia.value("vigia_config_last_reload_successful") == 1.0
    assert vigia.value("vigia_cycles_total", interval="1s") >= 1
    assert vigia.value("vigia_drill_rto_target_seconds", drill="mesa") == 300.0
    assert vigia.value("vigia_continuity_service_overdue", service="web") == 1.0  # never tested yet
    assert vigia.value("vigia_zone_open", zone="ZD-01") in (0.0, 1.0)
    _, body = vigia.get("/metrics")
    check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()
    assert check.stdout == b"" and check.stderr == b""


def test_endpoints(vigia: VigiaProcess) -> None:
    vigia.start().wait_ready()
    assert vigia.get("/-/healthy") == (200, b"OK\n")
    assert vigia.get("/nope")[0] == 404
    assert vigia.get("/metrics?target=10.0.0.1")[0] == 200  # query strings choose nothing
    req = __import__("urllib.request").request.Request(vigia.url + "/metrics", data=b"x", method="POST")
    try:
        __import__("urllib.request").request.urlopen(req, timeout=3)
        raise AssertionError("POST must be refused")
    except __import__("urllib.error").error.HTTPError as exc:
        assert exc.code == 405


def test_the_alerts_runbooks_are_pages_of_vigias_own_listener(vigia: VigiaProcess) -> None:
    """Every alert's runbook_url, with the shipped base, is a page the daemon serves (a NOC desk
    opens it where it reads the alert); nothing but a runbook is reachable under /runbooks/."""
    import yaml

    vigia.start().wait_ready()
    rules = Path(__file__).resolve().parents[1] / "deploy/prometheus/rules/vigia-alerts.yml"
    alerts = [r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"] if "alert" in r]
    base = "http://localhost:9842"
    for r in alerts:
        url = r["annotations"]["runbook_url"]
        assert url.startswith(base + "/runbooks/"), r["alert"]
        status, page = vigia.get(url.removeprefix(base))
        assert status == 200 and f"<h1>{r['alert']} — ".encode() in page, r["alert"]
    status, index = vigia.get("/runbooks/")
    assert status == 200 and all(f'href="/runbooks/{r["alert"]}.md"'.encode() in index for r in alerts)
    for path in ("/runbooks/../../etc/passwd", "/runbooks/VigiaNope.md", "/runbooks/%2e%2e/README.md",
                 "/runbooks/vigia.yml"):  # fmt: skip
        assert vigia.get(path)[0] == 404, path


def test_sighup_with_a_broken_file_keeps_the_old_config(vigia: VigiaProcess) -> None:
    vigia.start().wait_ready()
    good = vigia.config.read_text()
    vigia.config.write_text(good + "  - {id: lo-1, probe: icmp, icmp: {address: 127.0.0.3}}\n")
    vigia.signal(signal.SIGHUP)
    vigia.wait_for(lambda: vigia.value("vigia_config_last_reload_successful") == 0.0, message="reload failure")
    log = vigia.log.read_text()
    assert "reload failed, still running the previous configuration" in log
    assert f"{vigia.config}:" in log and "duplicate target id 'lo-1'" in log
    assert vigia.get("/-/healthy")[0] == 200
    cycles = vigia.value("vigia_cycles_total", interval="1s")
    vigia.wait_for(lambda: vigia.value("vigia_cycles_total", interval="1s") > cycles, message="cycles go on")
    vigia.config.write_text(good + "  - {id: lo-3, probe: icmp, icmp: {address: 127.0.0.3}}\n")
    vigia.signal(signal.SIGHUP)
    vigia.wait_for(lambda: vigia.value("vigia_config_last_reload_successful") == 1.0, message="reload success")
    vigia.wait_for(lambda: vigia.value("vigia_target_up", target="lo-3") == 1.0, message="new target probed")
    assert vigia.value("vigia_config_reloads_total") == 2.0


def test_sigterm_mid_cycle_loses_no_stored_row(tmp_path: Path) -> None:
    need_root()
    release = threading.Event()
    with tcp_server(lambda c: release.wait(5)) as (port, accepted):
        config = BASE.replace("defaults: {interval: 1s, timeout: 500ms", "defaults: {interval: 3s, timeout: 1500ms") + (
            f"  - {{id: mute, probe: tcp, tcp: {{host: 127.0.0.1, port: {port}, expect: '^220'}}}}\n"
        )
        vigia = VigiaProcess(config, tmp_path).start()
        try:
            vigia.wait_for(lambda: accepted[0] >= 2, timeout=30, message="two cycles started")
            time.sleep(0.3)  # well inside the second cycle: the mute peer holds it for 1.5 s
            t0 = time.monotonic()
            vigia.signal(signal.SIGTERM)
            assert vigia.proc is not None
            assert vigia.proc.wait(timeout=10) == 0
            assert time.monotonic() - t0 < 5
        finally:
            release.set()
            vigia.stop()
        started = accepted[0]
    db = sqlite3.connect(tmp_path / "state" / "vigia.db")
    rows = db.execute("select count(*) from probe_results where target = 'mute'").fetchone()[0]
    fast = db.execute("select count(*) from probe_results where target = 'lo-1'").fetchone()[0]
    stopped = db.execute("select stopped_at from daemon_runs").fetchone()[0]
    assert rows == started, "every cycle that started was stored"
    assert fast == started
    assert stopped is not None
    assert "stopped" in vigia.log.read_text()


def test_a_mute_peer_costs_the_cycle_its_timeout_and_nothing_more(tmp_path: Path) -> None:
    need_root()
    release = threading.Event()
    with tcp_server(lambda c: release.wait(10)) as (port, _):
        config = (
            "state_dir: {state}\ndefaults: {interval: 1s, timeout: 700ms}\ntargets:\n"
            "  - {id: lo-1, probe: icmp, icmp: {address: 127.0.0.1}}\n"
            f"  - {{id: mute, probe: tcp, tcp: {{host: 127.0.0.1, port: {port}, expect: '^220'}}}}\n"
        )
        vigia = VigiaProcess(config, tmp_path).start()
        try:
            vigia.wait_for(
                lambda: vigia.value("vigia_probe_failure", target="mute", probe="tcp", reason="timeout") == 1.0,
                message="mute peer timed out",
            )
            assert vigia.value("vigia_probe_success", target="lo-1", probe="icmp") == 1.0
            assert vigia.value("vigia_probe_duration_seconds", target="lo-1", probe="icmp") < 0.7
            assert 0.65 < vigia.value("vigia_probe_duration_seconds", target="mute", probe="tcp") < 0.9
            assert 0.65 < vigia.value("vigia_cycle_duration_seconds", interval="1s") < 1.0
            assert vigia.value("vigia_cycle_overruns_total", interval="1s") == 0.0
        finally:
            release.set()
            vigia.stop()


def test_lab_host_down_and_back_is_an_outage(lab, tmp_path: Path) -> None:
    host = lab.add_host()
    config = (
        "state_dir: {state}\ndefaults: {interval: 1s, timeout: 400ms, failures_before_down: 2}\ntargets:\n"
        f"  - {{id: zone-gw, probe: icmp, icmp: {{address: {host.address}}}}}\n"
    )
    vigia = VigiaProcess(config, tmp_path).start()
    try:
        vigia.wait_for(lambda: vigia.value("vigia_target_up", target="zone-gw") == 1.0, message="up")
        went_down = time.time()
        host.down()
        vigia.wait_for(lambda: vigia.value("vigia_target_up", target="zone-gw") == 0.0, message="down")
        assert vigia.value("vigia_probe_failure", target="zone-gw", probe="icmp", reason="timeout") == 1.0
        assert vigia.value("vigia_target_state", target="zone-gw", state="down") == 1.0
        came_back = time.time()
        host.up()
        vigia.wait_for(lambda: vigia.value("vigia_target_up", target="zone-gw") == 1.0, message="back up")
    finally:
        assert vigia.stop() == 0
    db = sqlite3.connect(tmp_path / "state" / "vigia.db")
    outages = db.execute("select kind, started_at, ended_at, reason from outages where target='zone-gw'").fetchall()
    assert len(outages) == 1
    kind, start, end, reason = outages[0]
    assert (kind, reason) == ("down", "timeout")
    assert went_down - 0.1 <= start <= went_down + 2.5
    assert came_back <= end <= came_back + 3.0
    state = db.execute("select state from target_state where target='zone-gw'").fetchone()[0]
    assert state == "up"


def test_restart_keeps_an_open_outage_open(lab, tmp_path: Path) -> None:
    host = lab.add_host()
    config = (
        "state_dir: {state}\ndefaults: {interval: 1s, timeout: 400ms, failures_before_down: 1}\ntargets:\n"
        f"  - {{id: zone-gw, probe: icmp, icmp: {{address: {host.address}}}}}\n"
    )
    host.down()
    first = VigiaProcess(config, tmp_path).start()
    first.wait_for(lambda: first.value("vigia_target_up", target="zone-gw") == 0.0, message="down")
    assert first.stop() == 0
    host.up()
    second = VigiaProcess(config, tmp_path)
    second.config = first.config
    second.port = first.port
    second.start()
    try:
        second.wait_for(lambda: second.value("vigia_target_up", target="zone-gw") == 1.0, message="up again")
    finally:
        second.stop()
    db = sqlite3.connect(tmp_path / "state" / "vigia.db")
    outages = db.execute("select ended_at from outages where target='zone-gw'").fetchall()
    assert len(outages) == 1 and outages[0][0] is not None
    runs = db.execute("select count(*) from daemon_runs where stopped_at is not null").fetchone()[0]
    assert runs == 2


def test_socket_helper_is_loopback_only() -> None:
    # Guard for the suite itself: every server the tests start binds loopback.
    with tcp_server(lambda c: None) as (port, _), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_store_failure_keeps_probing_and_loses_nothing(tmp_path: Path) -> None:
    """The store goes away mid-run (PostgreSQL table renamed): probing and /metrics go on,
    errors are counted, and once it is back every held result is written."""
    need_root()
    import psycopg

    from tests import pgdb

    with pgdb.database() as url:
        _store_comes_back(tmp_path, url, psycopg)


def _store_comes_back(tmp_path: Path, url: str, psycopg: Any) -> None:
    name = url.rsplit("/", 1)[1]
    url_file = tmp_path / "store-url"
    # Trust auth on the test server ignores the password; it is there to prove it never leaks.
    url_file.write_text(f"{url}\n".replace("postgres@", "postgres:s3creto-pw@"))
    config = (
        "state_dir: {state}\ndefaults: {interval: 1s, timeout: 500ms}\n"
        f"store: {{url_file: {url_file}}}\ntargets:\n"
        "  - {id: lo-1, probe: icmp, icmp: {address: 127.0.0.1}}\n"
    )
    vigia = VigiaProcess(config, tmp_path).start()
    db = f"host=127.0.0.1 user=postgres dbname={name}"
    try:
        vigia.wait_ready()
        vigia.wait_for(lambda: (vigia.value("vigia_store_writes_total") or 0) >= 1, message="first write")
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("ALTER TABLE probe_results RENAME TO probe_results_away")
        vigia.wait_for(lambda: (vigia.value("vigia_store_errors_total") or 0) >= 2, message="store errors")
        assert vigia.value("vigia_target_up", target="lo-1") == 1.0
        assert vigia.value("vigia_store_pending_results") >= 1
        cycles_during = vigia.value("vigia_cycles_total", interval="1s")
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("ALTER TABLE probe_results_away RENAME TO probe_results")
        vigia.wait_for(
            lambda: vigia.value("vigia_store_pending_results") == 0.0, timeout=30, message="held results written"
        )
        assert "cannot write to the store" in vigia.log.read_text()
        assert b"s3creto-pw" not in vigia.get("/metrics")[1]
    finally:
        assert vigia.stop() == 0
    with psycopg.connect(db) as conn:
        stored = conn.execute("select count(*) from probe_results where target='lo-1'").fetchone()[0]
    assert stored >= cycles_during
    assert "s3creto-pw" not in vigia.log.read_text()
    assert "postgres:***@" in vigia.log.read_text()


def test_the_daemon_leaves_heavy_libraries_to_the_work_that_needs_them() -> None:
    """The report stack (matplotlib, WeasyPrint) runs in the month close's child process, pysnmp
    loads with the first SNMP check and cryptography with the first certificate read: a daemon
    that never needs them keeps its memory (README: footprint goal 80 MB)."""
    import subprocess
    import sys

    heavy = ("matplotlib", "numpy", "weasyprint", "pysnmp", "cryptography", "reports.charts")
    code = f"import sys, monitor.daemon; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == []
