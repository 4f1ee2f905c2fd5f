"""End to end, the way the office runs it: Debian's Prometheus scrapes vigia (over TLS with basic
auth, as deploy/prometheus/prometheus.yml says) while vigia watches a network lab of Zonas Digitales
with a real SNMP agent, a data-centre TLS service and a continuity drill. The shipped recording and
alert rules are loaded; every query of every shipped Grafana dashboard must return data; a lab zone
goes down and VigiaZoneDown fires.

The only liberty taken with the shipped files: alert hold times (``for:``) and rule-group
intervals are shortened so that the test takes seconds; the expressions are the shipped ones, and
the hold times themselves are what deploy/prometheus/tests/vigia-alerts.test.yml checks.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from tests.agentcentre import agent_file, register, run_agent
from tests.conftest import need, need_binary, need_root, netns_available
from tests.servers import Pki, fast_rules, prometheus_api, prometheus_server, tls_server
from tests.test_snmp import CLIENTS_OID, write_conf
from tests.test_zones_lab import INVENTORY, zone_yaml
from tests.vigiaproc import ROOT, VigiaProcess

DEPLOY = ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
HERE = Path(__file__).parent
ZONES = INVENTORY[:3]
SNMP_ZONE = ZONES[0]["id"]
DOWN_ZONE = ZONES[1]["id"]
AGENT_ZONE = ZONES[2]["id"]
PASSWORD = "clave-de-prometheus"
# What Grafana puts in place of its variables when the dashboards are opened on the lab.
VARIABLES = {"$__rate_interval": "30s", "$zone": SNMP_ZONE, "$host": "this-host"}


@dataclass
class Ops:
    prom_port: int
    vigia: VigiaProcess
    hosts: dict[str, Any]
    tmp: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        return prometheus_api(self.prom_port, "query", query=promql)

    def query_range(self, promql: str, seconds: int = 60) -> list[dict[str, Any]]:
        now = time.time()
        return prometheus_api(self.prom_port, "query_range", query=promql, start=now - seconds, end=now, step=1)

    def wait(self, promql: str, what: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.query(promql)
            if got:
                return got
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}: {promql}\n{self.vigia.log.read_text()[-3000:]}")


def _prometheus_config(tmp: Path, vigia_port: int, ca_file: Path) -> Path:
    """deploy/prometheus/prometheus.yml with the lab's paths, address and a 1 s rhythm."""
    doc = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    doc["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    doc["rule_files"] = [
        str(fast_rules(DEPLOY / "prometheus" / "rules" / Path(f).name, tmp / Path(f).name)) for f in doc["rule_files"]
    ]
    [job] = doc["scrape_configs"]
    job["tls_config"]["ca_file"] = str(ca_file)
    (tmp / "vigia-password").write_text(PASSWORD + "\n")
    job["basic_auth"]["password_file"] = str(tmp / "vigia-password")
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{vigia_port}"]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _plan(tmp: Path, tls_port: int) -> Path:
    db = tmp / "sede.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table tramites (radicado_en text)")
        last = (datetime.now(UTC) - timedelta(minutes=12)).isoformat()
        conn.execute("insert into tramites values (?)", (last,))
    (tmp / "sede-url").write_text(f"sqlite:///{db}\n")
    plan = tmp / "plan.yml"
    plan.write_text(
        f"""version: ops-1
services:
  - {{id: sede, name: Sede electrónica, rto: 5m, rpo: 1h, mtd: 4h, test_interval: 90d}}
drills:
  - id: restauracion-sede
    service: sede
    kind: backup-restore
    exercise: functional
    objective: La sede vuelve desde su respaldo
    max_duration: 10m
    verify_poll: 200ms
    disruptive: false
    method: [{{type: command, name: Restaurar, argv: ["{sys.executable}", -c, "pass"]}}]
    verify:
      - {{type: probe, name: Sede responde, probe: tcp, settings: {{host: 127.0.0.1, port: {tls_port}}}}}
      - {{type: sql, name: Último trámite, url: {{file: {tmp / "sede-url"}}},
         query: "select max(radicado_en) from tramites", recovery_point: true}}
"""
    )
    return plan


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    need_root()
    need(netns_available(), "needs root and 'ip netns' (iproute2) to build the network lab")
    prometheus = need_binary("prometheus", "prometheus")
    snmpd = need_binary("snmpd", "snmpd")
    from tests.lab import Lab

    tmp = tmp_path_factory.mktemp("ops")
    with ExitStack() as stack:
        lab = stack.enter_context(Lab())
        hosts: dict[str, Any] = {}
        zones = []
        for z in ZONES:
            host = hosts[z["id"]] = lab.add_host()
            portal = host.spawn(
                sys.executable, str(HERE / "portal_server.py"), "--bind", host.address, "--port", "80",
                "--seconds", "600", stdout=subprocess.PIPE,
            )  # fmt: skip
            assert portal.stdout is not None and portal.stdout.readline().strip() == b"ready"
            zones.append(zone_yaml(z, host.address))
        # The SNMP agent of the first zone's access point: its interface counters are the lab link's.
        snmp_host = hosts[SNMP_ZONE]
        if_index = int(snmp_host.run("cat", f"/sys/class/net/{snmp_host.ns_if}/ifindex").stdout)
        agent_dir = tmp / "snmp"
        agent_dir.mkdir()
        (agent_dir / "community").write_text("s3creto-comunidad\n")
        write_conf(agent_dir / "snmpd.conf", snmp_host.address, 4294967000, 17, if_index)
        snmp_host.spawn(
            snmpd, "-f", "-C", "-c", str(agent_dir / "snmpd.conf"), "-Lf", str(agent_dir / "snmpd.log"),
            "-p", str(agent_dir / "pid"), env={"SNMP_PERSISTENT_DIR": str(agent_dir), "MIBS": ""},
        )  # fmt: skip
        # The third zone has an agent (run below, beside the centre): the dashboards' agents row reads it.
        agent_host = hosts[AGENT_ZONE]
        zones[2]["agent"] = {"interval": "1s", "timeout": "500ms", "gateway": agent_host.address,
                             "anchors": [agent_host.address]}  # fmt: skip
        zones[0]["snmp"] = {
            "address": snmp_host.address,
            "community": {"file": str(agent_dir / "community")},
            "if_index": if_index,
            "clients_oid": CLIENTS_OID,
        }

        pki = Pki(tmp)
        sede_cert, sede_key, _ = pki.leaf("sede", ips=["127.0.0.1"], days=11, start_days_ago=1)
        tls_port = stack.enter_context(tls_server(sede_cert, sede_key))
        vigia_cert, vigia_key, _ = pki.leaf("vigia", ips=["127.0.0.1"])
        web = tmp / "web.yml"
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        web.write_text(
            f"tls_server_config: {{cert_file: {vigia_cert}, key_file: {vigia_key}}}\n"
            f"basic_auth_users: {{prometheus: '{hashed}'}}\n"
        )
        config = {
            "instance": "ops",
            "state_dir": "{state}",
            "timezone": "America/Bogota",
            "defaults": {"interval": "1s", "timeout": "700ms"},
            "zone_defaults": {
                "interval": "1s",
                "timeout": "700ms",
                "packets": 2,
                "failures_before_down": 2,
                "hours": "00:00-24:00",
                "sla_target": 0.98,
            },
            "continuity": {"plan": str(_plan(tmp, tls_port))},
            "targets": [
                {"id": "sede-tls", "probe": "tls", "group": "datacenter", "description": "Sede electrónica (TLS)",
                 "tls": {"host": "127.0.0.1", "port": tls_port, "ca_file": str(pki.ca_file)}},
                {"id": "sede-tcp", "probe": "tcp", "group": "datacenter", "description": "Sede electrónica (TCP)",
                 "tcp": {"host": "127.0.0.1", "port": tls_port}},
                {"id": "this-host", "probe": "host", "group": "datacenter", "description": "Servidor de vigia"},
            ],
            "zones": zones,
        }  # fmt: skip
        text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False).replace("'{state}'", "{state}")
        vigia = VigiaProcess(text, tmp)
        drill = subprocess.run(
            [sys.executable, "-m", "monitor", "drill", "run", "restauracion-sede", "--config", str(vigia.config)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert drill.returncode == 0, drill.stdout + drill.stderr
        vigia.tls = pki.client_context()
        vigia.auth = ("prometheus", PASSWORD)
        vigia.start("--web.config.file", str(web))
        stack.callback(vigia.stop)
        vigia.wait_ready(timeout=30)

        stack.callback(_stop, _agent(vigia, tmp, pki.ca_file))

        prom_config = _prometheus_config(tmp, vigia.port, pki.ca_file)
        prom_port = stack.enter_context(prometheus_server(prometheus, prom_config, tmp))
        ops = Ops(prom_port, vigia, hosts, tmp)
        vigia.wait_for(lambda: bool(ops.query('up{job="vigia"} == 1')), 60, "Prometheus to scrape vigia")
        # Enough history for rates and the recording rules before the tests read anything.
        ops.wait(f"count(vigia_zone_up == 1) == {len(ZONES)}", "every lab zone up")
        ops.wait("count_over_time(vigia_zone_receive_bytes_total[1m]) >= 3", "SNMP traffic samples")
        ops.wait("zone:vigia_zone_availability:ratio30d", "the 30-day availability recording rule")
        ops.wait("count_over_time(vigia_agent_dropped_results_total[1m]) >= 3", "the zone agent's series, for rates")
        ops.wait("vigia_agent_batches_refused_total", "the refused batch counted")
        yield ops


def test_prometheus_scrapes_the_lab_over_tls_with_basic_auth(ops: Ops) -> None:
    [up] = ops.query('up{job="vigia"}')
    assert up["value"][1] == "1" and up["metric"]["site"] == "cdc"
    zones = {r["metric"]["zone"]: r["value"][1] for r in ops.query("vigia_zone_up")}
    assert zones == {z["id"]: "1" for z in ZONES}
    names = {r["metric"]["zone"]: r["metric"]["name"] for r in ops.query("vigia_zone_info")}
    assert names == {z["id"]: z["name"] for z in ZONES}
    [clients] = ops.query(f'vigia_zone_clients{{zone="{SNMP_ZONE}"}}')
    assert clients["value"][1] == "17"
    [days] = ops.query('target:vigia_tls_certificate_days_left{target="sede-tls"}')
    assert 9 < float(days["value"][1]) < 10.1
    [rto] = ops.query('vigia_drill_rto_achieved_seconds{drill="restauracion-sede"}')
    assert 0 < float(rto["value"][1]) < 300
    [rpo] = ops.query('vigia_drill_rpo_achieved_seconds{drill="restauracion-sede"}')
    assert 12 * 60 <= float(rpo["value"][1]) < 14 * 60
    # The certificate 10 days from expiry is an alert too (shipped expression, hold shortened).
    ops.wait('ALERTS{alertname="VigiaCertificateExpiringSoon",target="sede-tls",alertstate="firing"}', "cert alert")


def test_recording_rules_evaluate(ops: Ops) -> None:
    availability = {
        r["metric"]["zone"]: float(r["value"][1]) for r in ops.query("zone:vigia_zone_availability:ratio30d")
    }
    assert availability == {z["id"]: 1.0 for z in ZONES}
    assert ops.query("vigia:zones_up:count")[0]["value"][1] == str(len(ZONES))
    assert ops.query("vigia:zones_down:count")[0]["value"][1] == "0"
    assert ops.query("vigia:zones:count")[0]["value"][1] == str(len(ZONES))
    [traffic] = ops.query(f'zone:vigia_zone_traffic_bits:rate5m{{zone="{SNMP_ZONE}"}}')
    assert float(traffic["value"][1]) >= 0
    rules = _rules(ops)
    assert {"VigiaZoneDown", "VigiaDown", "VigiaStoreErrors"} <= set(rules)
    assert all(health == "ok" for health in rules.values()), rules


def _rules(ops: Ops) -> dict[str, str]:
    url = f"http://127.0.0.1:{ops.prom_port}/api/v1/rules"
    with urllib.request.urlopen(url, timeout=5) as resp:
        groups = json.load(resp)["data"]["groups"]
    return {r.get("name", ""): r["health"] for g in groups for r in g["rules"]}


def _agent(vigia: VigiaProcess, tmp: Path, ca_file: Path) -> subprocess.Popen[bytes]:
    """A real zone agent for AGENT_ZONE pushing to the lab's centre over TLS; and one batch without
    a token, refused (401), so the refusals' panel has its series."""
    token = register(vigia.config, AGENT_ZONE)
    config = agent_file(tmp / "agent", AGENT_ZONE, token, [f"https://127.0.0.1:{vigia.port}"], ca_file=ca_file)
    request = urllib.request.Request(f"{vigia.url}/api/v1/agents/{AGENT_ZONE}/results", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5, context=vigia.tls)
    assert refused.value.code == 401
    return run_agent(config, tmp / "agent" / "agent.log")


def _stop(agent: subprocess.Popen[bytes]) -> None:
    agent.terminate()
    try:
        agent.wait(timeout=15)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()


def dashboard_queries() -> list[tuple[str, str, str, bool]]:
    """(dashboard, panel, expr, instant) of every target of every shipped dashboard."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((path.name, panel["title"], target["expr"], bool(target.get("instant"))))
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                m = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["query"]["query"])
                assert m, var["query"]
                out.append((path.name, f"variable {var['name']}", f"count by ({m[2]}) ({m[1]})", True))
    return out


def test_every_dashboard_query_returns_data(ops: Ops) -> None:
    queries = dashboard_queries()
    assert {q[0] for q in queries} == {
        "vigia-resumen.json",
        "vigia-zona.json",
        "vigia-centro-datos.json",
        "vigia-continuidad.json",
    }
    empty = []
    for board, panel, expr, instant in queries:
        promql = expr
        for name, value in VARIABLES.items():
            promql = promql.replace(name, value)
        assert "$" not in promql, (board, panel, promql)
        got = ops.query(promql) if instant else ops.query_range(promql)
        if not got:
            empty.append(f"{board} / {panel}: {promql}")
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_every_dashboard_annotation_query_is_valid_promql(ops: Ops) -> None:
    """The lab has no incident or maintenance: the queries must parse and run (Prometheus says
    "success"); tests/test_status_page.py shows the incident series they read."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for a in json.loads(path.read_text()).get("annotations", {}).get("list", []):
            ops.query(a["expr"].replace("$zone", SNMP_ZONE))  # raises unless Prometheus answers "success"
            found.append((path.name, a["name"]))
    assert ("vigia-zona.json", "Incidentes") in found and ("vigia-resumen.json", "Mantenimiento") in found


def test_a_lab_zone_going_down_fires_zone_down(ops: Ops) -> None:
    ops.hosts[DOWN_ZONE].down()
    try:
        alert = ops.wait(
            f'ALERTS{{alertname="VigiaZoneDown",zone="{DOWN_ZONE}",alertstate="firing"}}', "VigiaZoneDown", 60
        )
        labels = alert[0]["metric"]
        assert labels["name"] == ZONES[1]["name"] and labels["severity"] == "critical"
        assert not ops.query(f'ALERTS{{alertname="VigiaZoneDown",zone!="{DOWN_ZONE}"}}')
        assert ops.query("vigia:zones_down:count")[0]["value"][1] == "1"
        # Its 5-minute availability, seen by the recording rule, is no longer whole.
        [avg] = ops.query(f'zone:vigia_zone_up:avg5m{{zone="{DOWN_ZONE}"}}')
        assert float(avg["value"][1]) < 1.0
    finally:
        ops.hosts[DOWN_ZONE].up()
    ops.wait(f'vigia_zone_up{{zone="{DOWN_ZONE}"}} == 1', "the zone back up", 30)
