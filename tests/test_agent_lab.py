"""Zone agents on the day things break, in namespaces (tests/zonelab.py): a centre on PostgreSQL,
three Wi-Fi zones each with its gateway (NAT, dnsmasq as the hotspot's resolver, the captive
portal) and a real `vigia agent run` on its LAN, an internet anchor beyond a core router.

(a) the backhaul is cut: the centre sees the zone dark, the agent keeps measuring into its outbox;
    when the link returns every result arrives once, at its own time, and the zone's downtime is
    the cut's, cause `enlace`;
(b) the power goes (gateway and agent): the agent comes back booted, and the silence is `energia`;
(c) only the centre's path to the zone is cut: the zone stays available (a monitoring-path event);
(d) the captive portal fails with the internet up: `portal`.
(e) an agent's clock runs 5 min ahead (its wall clock shifted by tests/native/clockshift.c, its
    timed waits untouched): its times are corrected, the skew reported, the zone judged as before.
(f) (two centres, a fail-over mid-backlog) is tests/test_agent_run.py's; (g) (every bad input)
tests/test_ingest.py's.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.agentcentre import agent_file, register, run_agent
from tests.conftest import need, need_binary, need_root, netns_available
from tests.lab import stop
from tests.vigiaproc import VigiaProcess
from tests.zonelab import ANCHOR, CENTRE, Zone, ZoneLab

pytestmark = pytest.mark.scale

CUT = 8.0  # seconds each fault lasts: eight of the agents' and the centre's one-second cycles
TOLERANCE = 2.5  # a cycle each side, and the hysteresis' first failure


def zone_entry(z: Zone) -> str:
    dns = f"{{name: portal.zona.test, expect_answers: [{z.lan}]}}"
    agent = (f"{{interval: 1s, timeout: 500ms, gateway: {z.lan}, dns: {dns}, portal_url: 'http://{z.lan}/', "
             f"portal_text: Portal cautivo, anchors: [{ANCHOR}]}}")  # fmt: skip
    return (f"  - {{id: ZL-{z.index}, name: Zona {z.index}, lat: 10.4, lon: -75.5, gateway: {z.wan}, "
            f"portal_url: 'http://{z.wan}/', agent: {agent}}}\n")  # fmt: skip


@dataclass
class Lab:
    zones: ZoneLab
    centre: VigiaProcess
    engine: sa.Engine
    tmp: Path
    agents: dict[int, subprocess.Popen[bytes]]

    def zone(self, i: int) -> Zone:
        return self.zones.zones[i - 1]

    def periods(self, i: int) -> list[tuple[str, float, float | None, str]]:
        with self.engine.connect() as conn:
            q = "SELECT kind, started_at, ended_at, reason FROM outages WHERE target = %s ORDER BY started_at"
            return [tuple(r) for r in conn.exec_driver_sql(q, (f"ZL-{i}",))]  # type: ignore[misc]

    def seqs(self, i: int) -> list[tuple[int, float]]:
        with self.engine.connect() as conn:
            q = "SELECT seq, ts FROM agent_results WHERE zone = %s ORDER BY seq"
            return [tuple(r) for r in conn.exec_driver_sql(q, (f"ZL-{i}",))]  # type: ignore[misc]

    def metric(self, name: str, i: int, **labels: str) -> float | None:
        return self.centre.value(name, zone=f"ZL-{i}", **labels)

    def start_agent(self, i: int, *wrapper: str) -> None:
        """Zone i's agent on its LAN box; ``wrapper``: what it runs under (a fresh boot, a fast clock)."""
        home = self.tmp / f"agent{i}"
        self.agents[i] = run_agent(home / "agent.yml", home / "agent.log", "ip", "netns", "exec",
                                   self.zone(i).box_ns, *wrapper)  # fmt: skip

    def wait(self, what: Callable[[], object], timeout: float, message: str) -> None:
        self.centre.wait_for(lambda: bool(what()), timeout=timeout, message=message)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need_root()
    need(netns_available(), "needs root and 'ip netns' (iproute2) to build the zone lab")
    need_binary("dnsmasq", "dnsmasq-base")
    need_binary("iptables", "iptables")
    from tests import pgdb

    need(pgdb.available(), "needs the local PostgreSQL server (deploy/test-services.sh starts it)")
    tmp = tmp_path_factory.mktemp("agentlab")
    with pgdb.database() as url, ZoneLab(3) as zones:
        (tmp / "url").write_text(url)
        config = (
            f"instance: centro\nstate_dir: {{state}}\nstore: {{url_file: {tmp / 'url'}}}\ntimezone: America/Bogota\n"
            "defaults: {interval: 1s, timeout: 700ms}\n"
            "zone_defaults: {interval: 1s, timeout: 700ms, packets: 2, failures_before_down: 2, "
            "hours: '00:00-24:00'}\n"
            "targets:\n  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
            "zones:\n" + "".join(zone_entry(z) for z in zones.zones)
        )  # fmt: skip
        centre = VigiaProcess(config, tmp)
        centre.address = CENTRE
        centre.start().wait_ready(timeout=30)
        engine = sa.create_engine(url)
        running = Lab(zones, centre, engine, tmp, {})
        try:
            for z in zones.zones:
                token = register(centre.config, f"ZL-{z.index}")
                agent_file(tmp / f"agent{z.index}", f"ZL-{z.index}", token, [f"http://{CENTRE}:{centre.port}"])
            running.start_agent(1)
            running.start_agent(2)
            running.start_agent(3)
            for i in (1, 2, 3):
                running.wait(lambda i=i: running.metric("vigia_zone_up", i) == 1.0, 30, f"zone {i} up")
                running.wait(lambda i=i: len(running.seqs(i)) >= 10, 30, f"agent {i}'s first results")
            yield running
        finally:
            for agent in running.agents.values():
                stop(agent)
            centre.stop()
            engine.dispose()


def the_only_down(lab: Lab, i: int, reason: str, since: float) -> tuple[float, float]:
    # Closed, not just there: the zone's gauge reads up as soon as the centre's state does, and the
    # period's end is stored by the writer's next batch (a second later, more on a loaded machine).
    try:
        lab.wait(lambda: [p for p in lab.periods(i) if p[3] == reason and p[1] >= since - 5 and p[2] is not None],
                 30, "a closed down period")  # fmt: skip
    except AssertionError:
        raise AssertionError(f"zone {i}: no closed down period {reason} since {since}: {lab.periods(i)}") from None
    periods = [p for p in lab.periods(i) if p[1] >= since - 5]
    assert [(p[0], p[3]) for p in periods if p[0] == "down"] == [("down", reason)], periods
    _, start, end, _ = next(p for p in periods if p[0] == "down")
    assert end is not None
    # A zone coming back may be slow at first (its first pings after a boot over threshold on a
    # loaded machine): measured, and degraded is not downtime; but nothing else, and not in the cut.
    assert all(p[0] == "degraded" and p[1] >= end for p in periods if p[0] != "down"), periods
    return start, end


def test_a_cut_backhaul_is_enlace_for_the_cut_and_every_spooled_result_arrives_once(lab: Lab) -> None:
    zone = lab.zone(1)
    before = len(lab.seqs(1))
    cut_at = time.time()
    zone.cut()
    lab.wait(lambda: lab.metric("vigia_zone_check_success", 1, check="gateway") == 0.0, 10, "the centre sees it dark")
    time.sleep(max(0.0, cut_at + CUT - time.time()))
    zone.mend()
    mended_at = time.time()
    start, end = the_only_down(lab, 1, "agent_enlace", cut_at)
    assert end - start == pytest.approx(mended_at - cut_at, abs=TOLERANCE)
    assert start == pytest.approx(cut_at, abs=TOLERANCE)
    got = lab.seqs(1)
    # A new outbox numbers from its clock's microseconds (store.outbox): consecutive from there.
    assert [s for s, _ in got] == list(range(got[0][0], got[0][0] + len(got)))  # nothing lost, nothing twice
    during = [ts for _, ts in got if cut_at + 1 < ts < mended_at - 1]
    assert len(during) >= 4 * (CUT - 2) and len(got) > before  # measured in the cut, at their own times


def test_a_power_cut_is_energia_once_the_agent_reports_its_boot(lab: Lab) -> None:
    zone = lab.zone(2)
    off_at = time.time()
    agent = lab.agents.pop(2)
    agent.kill()  # no goodbye: the power is gone
    agent.wait(timeout=10)
    for link in ("wan0", "lan0"):
        zone.gw("ip", "link", "set", link, "down")
    time.sleep(CUT)
    zone.gw("ip", "link", "set", "lan0", "up")
    zone.mend()
    on_at = time.time()
    # The box boots again: a new time namespace whose boot clock starts now, as after a power cut.
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    lab.start_agent(2, "unshare", "--time", "--boottime", str(-int(uptime) + 1))
    start, end = the_only_down(lab, 2, "agent_energia", off_at)
    assert end - start == pytest.approx(on_at - off_at, abs=TOLERANCE)
    assert start == pytest.approx(off_at, abs=TOLERANCE)


def test_only_the_centres_path_cut_is_no_downtime(lab: Lab) -> None:
    zone = lab.zone(3)
    since = time.time()
    zone.gw("iptables", "-I", "INPUT", "-s", CENTRE, "-j", "DROP")  # the centre's probes, not the agent's pushes
    try:
        lab.wait(lambda: lab.metric("vigia_zone_check_success", 3, check="gateway") == 0.0, 10, "the path failing")
        end = time.monotonic() + CUT
        while time.monotonic() < end:  # available all along: the citizens browse
            assert lab.metric("vigia_zone_up", 3) == 1.0
            time.sleep(0.5)
    finally:
        zone.gw("iptables", "-D", "INPUT", "-s", CENTRE, "-j", "DROP")
    lab.wait(lambda: lab.metric("vigia_zone_check_success", 3, check="gateway") == 1.0, 10, "the path back")
    time.sleep(3.0)  # a refold, had the batches called for one, is done within a cycle
    assert [p for p in lab.periods(3) if (p[2] or time.time()) > since] == []


@pytest.fixture(scope="module")
def clockshift(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/native/clockshift.c built for this run: LD_PRELOAD it to shift a process's wall clock."""
    gcc = need_binary("gcc", "gcc")
    out = tmp_path_factory.mktemp("native") / "clockshift.so"
    source = Path(__file__).parent / "native" / "clockshift.c"
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(out), str(source), "-ldl"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return out


def test_an_agent_clock_five_minutes_ahead_is_corrected_and_its_skew_reported(lab: Lab, clockshift: Path) -> None:
    agent = lab.agents.pop(3)
    stop(agent)
    restarted_at = time.time()
    top = lab.seqs(3)[-1][0]
    # What the agent measured under its true clock and had not pushed yet goes with the skewed
    # agent's first batch, corrected by that batch's offset: a clock that steps between measuring
    # and sending misplaces those results (as with Zabbix's proxies). They are left out here.
    with sqlite3.connect(lab.tmp / "agent3" / "state" / "outbox.db") as outbox:
        before = outbox.execute("SELECT value FROM counters WHERE name = 'last_seq'").fetchone()[0]
    lab.start_agent(3, "env", f"LD_PRELOAD={clockshift}", "CLOCKSHIFT_SECONDS=300")
    lab.wait(lambda: (lab.metric("vigia_agent_clock_skew_seconds", 3) or 0) < -290, 20, "the skew measured")
    assert lab.metric("vigia_agent_clock_skew_seconds", 3) == pytest.approx(-300, abs=3)
    lab.wait(lambda: len([s for s, _ in lab.seqs(3) if s > top]) >= 5, 20, "the skewed agent's results")
    time.sleep(2.0)  # a cycle to judge them
    now = time.time()
    later = [(s, ts) for s, ts in lab.seqs(3) if s > top]
    assert [s for s, _ in later] == list(range(top + 1, top + 1 + len(later)))
    skewed = [(q, ts) for q, ts in later if q > before]
    assert len(skewed) >= 3 and all(restarted_at - 2 < ts < now + 2 for _, ts in skewed), skewed  # not 5 min on
    assert lab.metric("vigia_zone_up", 3) == 1.0
    assert [p for p in lab.periods(3) if (p[2] or now) > restarted_at] == []  # no reboot read into the jump


def test_a_failing_portal_with_the_internet_up_is_portal(lab: Lab) -> None:
    zone = lab.zone(1)
    lab.wait(lambda: lab.metric("vigia_zone_up", 1) == 1.0, 20, "zone 1 up again")
    since = time.time()
    zone.stop("portal")
    try:
        lab.wait(lambda: lab.metric("vigia_zone_up", 1) == 0.0, 15, "zone 1 down")
    finally:
        zone.portal()
    lab.wait(lambda: lab.metric("vigia_zone_up", 1) == 1.0, 15, "zone 1 up")
    the_only_down(lab, 1, "agent_portal", since)
