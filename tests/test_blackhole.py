"""The day the backhaul is cut: hundreds of blackholed peers listed first, and no healthy check pays for them.

Two lab hosts in network namespaces drop traffic with iptables inside their namespace: one every
TCP packet (HTTP, TLS, TCP services behind a cut link), one every UDP packet (DNS, SNMP). Both still
answer ICMP, as a host behind a broken firewall does. 500 checks against them come first in the
configuration, then 1,500 healthy checks against real local servers (tests/peers.py in its own
process, and dnsmasq), and ICMP targets in the same interval group. One cycle of the daemon's own
code must report every healthy check up, every blackholed one ``timeout`` at its own deadline, and
end within timeout + 1 s.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from probes import result as r
from probes.engine import GRACE
from tests.conftest import dnsmasq_on, need_binary, need_root
from tests.lab import Lab
from tests.servers import peers
from tests.vigiaproc import daemon_in_process

pytestmark = pytest.mark.scale

TIMEOUT = 3.0
INTERVAL = 10.0


def config(tcp_hole: str, udp_hole: str, ports: dict[str, int], dns: list[tuple[str, int]], community: Path) -> str:
    lines = [
        f"defaults: {{interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s, packets: 2}}",
        "probing: {spread: 0s}",  # all at once, in list order: the blackholed ones first
        "targets:",
    ]
    holes = []
    holes += [f"{{id: hole-tcp-{i}, probe: tcp, tcp: {{host: {tcp_hole}, port: {1000 + i}}}}}" for i in range(200)]
    holes += [f"{{id: hole-http-{i}, probe: http, http: {{url: 'http://{tcp_hole}:8080/{i}'}}}}" for i in range(150)]
    holes += [f"{{id: hole-tls-{i}, probe: tls, tls: {{host: {tcp_hole}, port: 443}}}}" for i in range(50)]
    holes += [
        f"{{id: hole-dns-{i}, probe: dns, dns: {{server: {udp_hole}, name: portal{i}.zonas.test}}}}" for i in range(80)
    ]
    snmp = f"{{address: {udp_hole}, if_index: 1, community: {{file: {community}}}}}"
    holes += [f"{{id: hole-snmp-{i}, probe: snmp, snmp: {snmp}}}" for i in range(20)]
    healthy = []
    web = f"http://127.0.0.1:{ports['http']}/"
    healthy += [f"{{id: web-{i}, probe: http, http: {{url: '{web}', body_regex: portal}}}}" for i in range(600)]
    healthy += [
        f"{{id: ssh-{i}, probe: tcp, tcp: {{host: 127.0.0.1, port: {ports['banner']}, expect: '^SSH-2.0'}}}}"
        for i in range(500)
    ]
    # 400 queries at once over four dnsmasq: one alone overflows its socket's receive buffer when
    # the machine is busy (kernel RcvbufErrors), and its drops are not what this test measures.
    healthy += [
        f"{{id: dns-{i}, probe: dns, dns: {{server: {dns[i % 4][0]}, port: {dns[i % 4][1]}, name: portal.zonas.test}}}}"
        for i in range(400)
    ]
    icmp = [f"{{id: lo-{i}, probe: icmp, icmp: {{address: 127.0.0.{i + 2}}}}}" for i in range(10)]
    icmp += [f"{{id: gw-tcp-hole, probe: icmp, icmp: {{address: {tcp_hole}}}}}"]
    icmp += [f"{{id: gw-udp-hole, probe: icmp, icmp: {{address: {udp_hole}}}}}"]
    lines += [f"  - {t}" for t in holes + healthy + icmp]
    return "\n".join(lines) + "\n"


def test_500_blackholed_checks_listed_first_delay_none_of_1500_healthy_ones(
    lab: Lab, dnsmasq: tuple[str, int], tmp_path: Path
) -> None:
    need_root()
    need_binary("iptables", "iptables")
    tcp_hole, udp_hole = lab.add_host(), lab.add_host()
    tcp_hole.run("iptables", "-A", "INPUT", "-p", "tcp", "-j", "DROP")
    udp_hole.run("iptables", "-A", "INPUT", "-p", "udp", "-j", "DROP")
    community = tmp_path / "community"
    community.write_text("public\n")
    os.chmod(community, 0o600)
    with peers() as ports, ExitStack() as more:
        servers = [dnsmasq, *(more.enter_context(dnsmasq_on(f"127.0.0.{54 + i}")) for i in range(3))]
        text = config(tcp_hole.address, udp_hole.address, ports, servers, community)
        with daemon_in_process(text, tmp_path) as daemon:
            daemon.run_cycle(INTERVAL)
            wall = daemon.stats.cycles[INTERVAL].last_duration
            last = {tid: st.last for tid, st in daemon.runtime.observer.states.items()}
    assert len(last) == 500 + 1500 + 12
    holes = {t: res for t, res in last.items() if t.startswith("hole-")}
    healthy = {t: res for t, res in last.items() if not t.startswith("hole-")}
    assert len(holes) == 500
    false_failures = [res for res in healthy.values() if res is None or not res.success]
    assert not false_failures, f"{len(false_failures)} healthy checks failed, e.g. {false_failures[:3]}"
    for target, res in holes.items():
        assert res is not None and res.reason == r.TIMEOUT, (target, res)
        # At its own deadline: neither early (another check's clock) nor late (queued behind others).
        assert TIMEOUT - 0.01 <= res.duration <= TIMEOUT + GRACE, (target, res.duration)
    assert wall <= TIMEOUT + 1.0, f"the cycle took {wall:.2f}s"
