"""SNMP probe against Debian's net-snmp snmpd running inside a lab namespace.

The agent's IF-MIB counters are that namespace's real interface counters; `override` serves a
vendor's client-count OID and a 32-bit counter we can make wrap.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from probes import result as r
from probes.settings import Secret
from probes.snmp import NO_SUCH_OBJECT, WRONG_TYPE, SnmpSettings, SnmpV3
from tests.conftest import need_binary
from tests.probing import on_engine

probe = on_engine("snmp")

CLIENTS_OID = "1.3.6.1.4.1.14179.2.1.1.1.38.1"  # Cisco WLC bsnDot11EssNumberOfMobileStations.1
FAKE_IF = 9999  # a made-up interface whose 32-bit counters tests/snmp_pass.sh serves from files
PASS = Path(__file__).parent / "snmp_pass.sh"


@dataclass
class Agent:
    host: object
    address: str
    if_index: int
    community_file: Path
    conf: Path
    proc: subprocess.Popen[bytes]
    tmp: Path
    argv: tuple[str, ...]
    env: dict[str, str]

    def set_counter(self, in_octets32: int) -> None:
        """The made-up interface's counter takes a new value at once; the agent keeps running."""
        (self.tmp / "in").write_text(f"{in_octets32}\n")

    def restart(self, in_octets32: int, clients: int = 17) -> None:
        """Stop and start the agent: its sysUpTime starts again from zero, as after a reboot."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=5)
        write_conf(self.conf, self.address, in_octets32, clients, self.if_index)
        self.proc = self.host.spawn(*self.argv, env=self.env)
        for _ in range(100):
            if probe("sw", self.settings(), deadline=time.monotonic() + 0.3).success:
                return

    def settings(self, **kw: object) -> SnmpSettings:
        base = {
            "address": self.address,
            "community": Secret(file=str(self.community_file)),
            "if_index": self.if_index,
            "clients_oid": CLIENTS_OID,
        }
        base.update(kw)
        return SnmpSettings(**base)  # type: ignore[arg-type]


def write_conf(path: Path, address: str, in_octets32: int, clients: int, if_index: int) -> None:
    path.write_text(
        f"agentAddress udp:{address}:161\n"
        "rocommunity s3creto-comunidad default\n"
        "createUser vigia SHA vigia-auth-pass AES vigia-priv-pass\n"
        "rouser vigia priv\n"
        f"override {CLIENTS_OID} integer {clients}\n"
        f"pass .1.3.6.1.2.1.2.2.1.10.{FAKE_IF} {PASS}\n"
        f"pass .1.3.6.1.2.1.2.2.1.16.{FAKE_IF} {PASS}\n"
    )
    (path.parent / "in").write_text(f"{in_octets32}\n")
    (path.parent / "out").write_text("10\n")


@pytest.fixture
def agent(lab, tmp_path: Path) -> Iterator[Agent]:
    snmpd = need_binary("snmpd", "snmpd")
    host = lab.add_host()
    if_index = int(host.run("cat", f"/sys/class/net/{host.ns_if}/ifindex").stdout)
    (tmp_path / "community").write_text("s3creto-comunidad\n")
    conf = tmp_path / "snmpd.conf"
    write_conf(conf, host.address, 4294967000, 17, if_index)
    persist = tmp_path / "persist"
    persist.mkdir()
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist), MIBS="", VIGIA_SNMP_PASS_DIR=str(tmp_path))
    argv = (snmpd, "-f", "-C", "-c", str(conf), "-Lf", str(tmp_path / "snmpd.log"), "-p", str(tmp_path / "pid"))
    proc = host.spawn(*argv, env=env)
    a = Agent(host, host.address, if_index, tmp_path / "community", conf, proc, tmp_path, argv, env)
    for _ in range(100):  # until it answers, bounded
        if probe("sw", a.settings(), deadline=time.monotonic() + 0.3).success:
            break
        assert proc.poll() is None, (tmp_path / "snmpd.log").read_text()
    yield a


def sysfs(agent: Agent, counter: str) -> int:
    return int(agent.host.run("cat", f"/sys/class/net/{agent.host.ns_if}/statistics/{counter}").stdout)


def test_v2c_counters_are_the_hosts_real_traffic_and_grow(agent: Agent) -> None:
    res = probe("sw", agent.settings(), deadline=time.monotonic() + 2)
    assert res.success, res.message
    assert res.values["clients"] == 17
    assert res.values["sys_uptime_seconds"] >= 0
    before_rx = res.values["if_in_octets"]
    assert abs(before_rx - sysfs(agent, "rx_bytes")) < 20_000
    # Push 2 MB into the zone host: UDP datagrams to its discard port count as received bytes.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(1500):
            sock.sendto(b"x" * 1400, (agent.address, 9))
    time.sleep(3.5)  # net-snmp caches interface counters for a few seconds
    after = probe("sw", agent.settings(), deadline=time.monotonic() + 2)
    grown = after.values["if_in_octets"] - before_rx
    assert grown >= 1500 * 1400
    assert abs(after.values["if_in_octets"] - sysfs(agent, "rx_bytes")) < 20_000


def test_v3_with_auth_and_privacy(agent: Agent) -> None:
    (agent.tmp / "auth").write_text("vigia-auth-pass")
    (agent.tmp / "priv").write_text("vigia-priv-pass")
    v3 = SnmpV3(
        user="vigia", auth_key=Secret(file=str(agent.tmp / "auth")), priv_key=Secret(file=str(agent.tmp / "priv"))
    )
    res = probe("sw", agent.settings(version="3", community=None, v3=v3), deadline=time.monotonic() + 2)
    assert res.success, res.message
    (agent.tmp / "priv").write_text("wrong-priv-pass")
    res = probe("sw", agent.settings(version="3", community=None, v3=v3, retries=0), deadline=time.monotonic() + 1.5)
    assert not res.success


def test_no_such_object_wrong_type_and_timeout(agent: Agent) -> None:
    res = probe("sw", agent.settings(if_index=999), deadline=time.monotonic() + 2)
    assert res.reason == NO_SUCH_OBJECT and "999" in res.message
    res = probe("sw", agent.settings(clients_oid="1.3.6.1.2.1.1.1.0"), deadline=time.monotonic() + 2)
    assert res.reason == WRONG_TYPE and "1.3.6.1.2.1.1.1.0" in res.message
    agent.proc.send_signal(signal.SIGTERM)
    agent.proc.wait(timeout=5)
    t0 = time.monotonic()
    res = probe("sw", agent.settings(), deadline=t0 + 1.0)
    assert res.reason == r.TIMEOUT
    assert time.monotonic() - t0 < 1.6


def test_wrong_community_is_a_timeout_not_a_crash(agent: Agent) -> None:
    (agent.tmp / "bad").write_text("not-the-community")
    res = probe(
        "sw", agent.settings(community=Secret(file=str(agent.tmp / "bad")), retries=0), deadline=time.monotonic() + 1.0
    )
    assert res.reason == r.TIMEOUT
    assert "not-the-community" not in res.message


def test_an_agent_that_never_answers_costs_only_its_own_checks(agent: Agent) -> None:
    from probes.engine import Check
    from tests.probing import engine

    (agent.tmp / "bad").write_text("not-the-community")  # snmpd drops such requests without a word
    mute = agent.settings(community=Secret(file=str(agent.tmp / "bad")))
    checks = [Check(f"mute-{i}", "snmp", mute, 1.5) for i in range(50)]
    checks.append(Check("healthy", "snmp", agent.settings(), 1.5))
    t0 = time.monotonic()
    out = engine().run(checks)
    by = {res.target: res for res in out.results}
    assert by["healthy"].success, by["healthy"].message
    assert all(by[f"mute-{i}"].reason == r.TIMEOUT for i in range(50))
    assert time.monotonic() - t0 < 1.5 + 0.6


def test_clients_of_several_ssids_add_up(agent: Agent) -> None:
    # The same OID twice stands for two SSIDs of 17 clients each.
    res = probe("sw", agent.settings(clients_oids=[CLIENTS_OID]), deadline=time.monotonic() + 2)
    assert res.success, res.message
    assert res.values["clients"] == 34


def test_32_bit_counter_read(agent: Agent) -> None:
    res = probe("sw", agent.settings(counter_bits=32, if_index=FAKE_IF), deadline=time.monotonic() + 2)
    assert res.success, res.message
    assert res.values["if_in_octets"] == 4294967000
    assert res.values["counter_bits"] == 32


def test_settings_need_credentials() -> None:
    with pytest.raises(ValueError, match="needs 'community'"):
        SnmpSettings(address="10.213.0.2", if_index=1)
    with pytest.raises(ValueError, match="auth_key is required"):
        SnmpV3(user="u")


def test_daemon_counts_zone_traffic_across_a_wrap_and_a_reboot(agent: Agent, tmp_path: Path) -> None:
    import sqlite3

    from tests.vigiaproc import daemon_in_process

    config = (
        "zone_defaults: {interval: 5s, timeout: 1s}\n"
        "zones:\n"
        "  - id: ZD-01\n    name: Plaza de la Aduana\n    lat: 10.42494\n    lon: -75.55192\n"
        f"    snmp: {{address: {agent.address}, community: {{file: {agent.community_file}}}, "
        f"if_index: {FAKE_IF}, counter_bits: 32, clients_oid: '{CLIENTS_OID}'}}\n"
    )
    (tmp_path / "d").mkdir()
    with daemon_in_process(config, tmp_path / "d") as daemon:
        time.sleep(1.5)  # let the agent's sysUpTime run ahead, as a real device's would
        daemon.run_cycle(5.0)  # baseline: 4294967000
        agent.set_counter(500)  # the 32-bit counter wraps: +796 bytes
        daemon.run_cycle(5.0)
        time.sleep(1.5)
        agent.restart(1000, clients=5)  # the agent restarts: counters from zero, +1000 bytes
        daemon.run_cycle(5.0)
        body = daemon.exposition.body().decode()
        traffic = repr(daemon.runtime.observer.traffic)
        daemon.writer.stop()
    assert 'vigia_zone_receive_bytes_total{zone="ZD-01"} 1796.0' in body, traffic
    assert 'vigia_zone_counter_wraps_total{zone="ZD-01"} 1.0' in body
    assert 'vigia_zone_counter_resets_total{zone="ZD-01"} 1.0' in body
    assert 'vigia_zone_clients{zone="ZD-01"} 5.0' in body
    db = sqlite3.connect(tmp_path / "d" / "state" / "vigia.db")
    [(rx, peak)] = db.execute("select input_octets, peak_clients from usage_daily where source='snmp'").fetchall()
    assert (rx, peak) == (1796.0, 17)


def test_a_zone_agent_reads_the_access_points_counters_and_the_centre_stores_them(
    agent: Agent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The zone's `agent: {access_points: ...}` is a check the centre lists; the zone agent reads
    the access points' client counter and interface counters over SNMP (a real snmpd) and its
    result reaches the centre with them."""
    import json
    import sqlite3

    from monitor.cli import main
    from tests.agentcentre import agent_file, centre_config, run_agent
    from tests.vigiaproc import VigiaProcess

    aps = {"address": agent.address, "if_index": agent.if_index, "community": {"file": str(agent.community_file)},
           "clients_oid": CLIENTS_OID}  # fmt: skip
    conf = centre_config(
        "  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5,\n"
        f"     agent: {{interval: 1s, timeout: 1s, gateway: 127.0.0.1, access_points: {json.dumps(aps)}}}}}\n"
    )
    centre = VigiaProcess(conf, tmp_path)
    centre.start().wait_ready()
    assert main(["agent", "add", "ZD-01", "--config", str(centre.config)]) == 0
    token = capsys.readouterr().out
    proc = run_agent(agent_file(tmp_path / "agent", "ZD-01", token, [centre.url]), tmp_path / "agent.log")
    query = "SELECT success, data FROM agent_results WHERE \"check\" = 'access_points' ORDER BY seq"
    try:
        got: list[tuple[int, str]] = []
        end = time.monotonic() + 30
        while time.monotonic() < end and not got:
            with sqlite3.connect(centre.tmp / "state" / "vigia.db") as db:
                got = db.execute(query).fetchall()
            time.sleep(0.3)
        assert got, (tmp_path / "agent.log").read_text()[-3000:]
        success, data = got[0]
        values = json.loads(data)["values"]
        assert success == 1 and values["clients"] == 17 and values["if_in_octets"] > 0, data
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        centre.stop()
