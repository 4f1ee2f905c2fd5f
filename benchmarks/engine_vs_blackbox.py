"""The probe engine against Debian's blackbox_exporter, on the same targets, in one run.

N checks (HTTP, TCP and DNS, a third each) against real servers: healthy ones on loopback
(tests/peers.py in its own process, dnsmasq), and a share blackholed by a network-namespace
host whose iptables drops every TCP and UDP packet (a cut backhaul). Listed blackholed first.

- vigia: the whole daemon, first with every check started at once (as blackbox_exporter is driven),
  then with the starts spread (`vigia run`, SQLite store, /metrics) in a child process; once the
  blackholed targets have gone down (its third cycle) and the next cycle has ended, CPU of the
  daemon process over the next cycles divided by the checks probed, the steady state: state, store
  writes and exposition included. Cycle wall from vigia_cycle_duration_seconds,
  false failures from vigia_probe_failure of healthy targets (vigia's own trouble, `late` or `overrun`, is
  counted apart as "no data": the state machine does not count it against the target), peak RSS from VmHWM.
- blackbox_exporter: one /probe request per target, all at once (as Prometheus scrapes of a
  large job would arrive), module timeout the same; CPU of the exporter process divided by the
  probes, per module. The driver's own CPU is not counted on either side.

Goals (issue 13): 0 false failures; cycle wall <= timeout + 1 s; vigia CPU per check <= 1/4 of
blackbox_exporter's per probe; peak RSS <= 400 MB. Needs root (namespaces, iptables).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS = ("http", "tcp", "dns")
MODULES = {"http": "http_2xx", "tcp": "tcp_connect", "dns": "dns_portal"}
CYCLES = re.compile(r"^vigia_cycles_total\{[^}]*\} (\S+)$", re.M)  # the daemon's cycles, per interval


@dataclass
class Side:
    tool: str
    checks: int
    wall_s: float
    cpu_us_per_check: float
    false_failures: int
    hole_not_timeout: int
    peak_rss_mb: float
    per_kind_us: dict[str, float]
    false_reasons: dict[str, int] = field(default_factory=dict)  # what the false failures said, by kind/reason
    no_data: int = 0  # healthy targets whose last result was vigia's own trouble (late, overrun): not failures


@dataclass(frozen=True)
class Target:
    id: str
    kind: str
    hole: bool
    address: str  # URL (http), host:port (tcp, dns)


def targets(n: int, hole_share: float, hole: str, ports: dict[str, int], dns: list[tuple[str, int]]) -> list[Target]:
    out: list[Target] = []
    per_kind = n // len(KINDS)
    holes = int(per_kind * hole_share)
    for kind in KINDS:
        for i in range(per_kind):
            blackholed = i < holes
            if kind == "http":
                addr = f"http://{hole}:8080/{i}" if blackholed else f"http://127.0.0.1:{ports['http']}/{i}"
            elif kind == "tcp":
                addr = f"{hole}:{1000 + i % 5000}" if blackholed else f"127.0.0.1:{ports['banner']}"
            else:
                server = dns[i % len(dns)]
                addr = f"{hole}:53" if blackholed else f"{server[0]}:{server[1]}"
            out.append(Target(f"{kind}-{i}", kind, blackholed, addr))
    out.sort(key=lambda t: not t.hole)  # the blackholed ones first, as in the issue's report
    return out


def vigia_config(ts: list[Target], timeout: float, interval: float, spread: float, state: Path) -> str:
    lines = [
        f"state_dir: {state}",
        f"defaults: {{interval: {interval:g}s, timeout: {timeout:g}s}}",
        # every check may hold its socket at once (a third of them hang on the blackholed host)
        f"probing: {{spread: {spread * 1000:.0f}ms, max_in_flight: {max(16384, len(ts))}}}",
        "targets:",
    ]
    for t in ts:
        if t.kind == "http":
            lines.append(f"  - {{id: {t.id}, probe: http, http: {{url: '{t.address}'}}}}")
        elif t.kind == "tcp":
            host, port = t.address.rsplit(":", 1)
            lines.append(f"  - {{id: {t.id}, probe: tcp, tcp: {{host: {host}, port: {port}}}}}")
        else:
            host, port = t.address.rsplit(":", 1)
            lines.append(
                f"  - {{id: {t.id}, probe: dns, dns: {{server: {host}, port: {port}, name: portal.zonas.test}}}}"
            )
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 10.0) -> str:
    # gzip, as Prometheus scrapes: the daemon serves its cached compressed body, and the benchmark's
    # own polling (several times a cycle) must not be counted as vigia's cost per check.
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        raw = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return str(raw.decode())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _more_files() -> None:
    """The open-file limit the systemd unit sets (LimitNOFILE=65536), for the daemon started here."""
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))


@dataclass
class Measured:
    """A daemon's CPU over whole cycles, and what it exposed at the end."""

    cpu_seconds: float
    cycles: float
    metrics: str
    peak_rss_mb: float


def _next_cycle(runs: Callable[[], float], after: float, end: float) -> float:
    """The daemon's count of cycles once it has passed ``after`` (read every 0.1 s, until ``end``)."""
    while time.monotonic() < end:
        done = runs()
        if done > after:
            return done
        time.sleep(0.1)
    return runs()


def measure_daemon(
    config: str, interval: float, cycles: int, *, first: float = 120.0, settle: float = 0.0, after: int = 1
) -> Measured:
    """``python -m monitor run`` on ``config`` (its ``{state}`` a fresh folder): once its first
    ``after`` cycles have ended (the first within ``first`` seconds) and ``settle`` more seconds have
    passed, its CPU over ``cycles`` cycles of ``interval``; the start's own work is not counted."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vigia.yml"
        path.write_text(config.replace("{state}", str(Path(tmp) / "state")))
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(path), "--listen", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            preexec_fn=_more_files,  # noqa: PLW1509 - setrlimit only, before exec
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "vigia.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        base = f"http://127.0.0.1:{port}"

        def runs() -> float:
            # Its lines found, not the whole body parsed: parsing 100k lines costs the benchmark
            # ~2 s of CPU, a core taken from the daemon being measured on a 2-core machine.
            return sum(float(v) for v in CYCLES.findall(_get(base + "/metrics")))

        try:
            end = time.monotonic() + first
            while time.monotonic() < end:
                assert proc.poll() is None, (Path(tmp) / "vigia.log").read_text()[-3000:]
                with contextlib.suppress(OSError):
                    if runs() >= 1:
                        break
                time.sleep(0.2)
            else:
                raise RuntimeError("vigia did not finish its first cycle")
            _next_cycle(runs, after - 1, time.monotonic() + (after + 1) * interval + 30)
            time.sleep(settle)
            # The window opens and closes just after a cycle's count moved, so it holds whole cycles;
            # between, the benchmark sleeps: each read of /metrics is work for the daemon (a few MB
            # at 2,000 zones), and Prometheus reads it every 15-30 s, not every half second.
            done0 = _next_cycle(runs, runs(), time.monotonic() + interval + 30)
            cpu0, start = _cpu_seconds(proc.pid), time.monotonic()
            time.sleep(max(0.0, cycles * interval - 1.0))
            done1 = _next_cycle(runs, done0 + cycles - 1, start + (cycles + 1) * interval + 30)
            cpu1 = _cpu_seconds(proc.pid)
            body = _get(base + "/metrics")
            peak = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return Measured(cpu1 - cpu0, done1 - done0, body, peak)


DOWN_AFTER = 3  # cycles until a failing target is down (the daemon's default failures_before_down)


def run_vigia(ts: list[Target], timeout: float, cycles: int, spread: float) -> Side:
    from prometheus_client.parser import text_string_to_metric_families

    interval = max(timeout + spread + 3.0, timeout * 2)
    # settle: after its first cycle the daemon collects and freezes what its start made (0.2-0.4 s
    # of one core at 15,000 targets, kernel.heap), once; and in its third the blackholed
    # third of the targets goes down (failures_before_down: 3): thousands of transitions logged,
    # stored and exposed at once, a bad day's cycle, not the steady state measured here.
    got = measure_daemon(vigia_config(ts, timeout, interval, spread, Path("{state}")), interval, cycles,
                         first=120 + len(ts) / 100, settle=2.0, after=DOWN_AFTER)  # fmt: skip
    body, peak = got.metrics, got.peak_rss_mb
    from domain.state import NO_DATA_REASONS

    hole = {t.id for t in ts if t.hole}
    not_timeout = no_data = 0
    reasons: dict[str, int] = {}
    wall = 0.0
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            if s.name == "vigia_cycle_duration_seconds":
                wall = s.value
            if s.name != "vigia_probe_failure" or s.value != 1.0:
                continue
            if s.labels.get("reason") in NO_DATA_REASONS:
                no_data += 1  # vigia said it could not measure: nothing is claimed of the target
            elif s.labels.get("target") in hole:
                not_timeout += s.labels.get("reason") != "timeout"
            else:
                said = f"{s.labels.get('target', '').split('-')[0]}/{s.labels.get('reason')}"
                reasons[said] = reasons.get(said, 0) + 1
    probed = max(1.0, got.cycles * len(ts))
    return Side("vigia daemon", len(ts), wall, got.cpu_seconds / probed * 1e6, sum(reasons.values()), not_timeout,
                peak, {}, reasons, no_data)  # fmt: skip


def blackbox_config(path: Path, timeout: float) -> None:
    t = f"{timeout:g}s"
    ip4 = "preferred_ip_protocol: ip4, ip_protocol_fallback: false"
    path.write_text(
        "modules:\n"
        f"  http_2xx: {{prober: http, timeout: {t}, http: {{{ip4}}}}}\n"
        f"  tcp_connect: {{prober: tcp, timeout: {t}, tcp: {{{ip4}}}}}\n"
        f"  dns_portal: {{prober: dns, timeout: {t}, dns: {{query_name: portal.zonas.test, query_type: A, "
        "transport_protocol: udp, preferred_ip_protocol: ip4, ip_protocol_fallback: false}}\n"
    )


async def _probe_all(port: int, ts: list[Target], timeout: float) -> dict[str, bool | None]:
    async def one(t: Target) -> tuple[str, bool | None]:
        query = urllib.parse.urlencode({"module": MODULES[t.kind], "target": t.address})
        try:
            async with asyncio.timeout(timeout + 30):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(f"GET /probe?{query} HTTP/1.0\r\nHost: bb\r\n\r\n".encode())
                body = (await reader.read()).decode()
                writer.close()
        except (OSError, TimeoutError):
            return t.id, None
        return t.id, "\nprobe_success 1" in body

    return dict(await asyncio.gather(*(one(t) for t in ts)))


def run_blackbox(ts: list[Target], timeout: float) -> Side | None:
    binary = shutil.which("prometheus-blackbox-exporter")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "blackbox.yml"
        blackbox_config(conf, timeout)
        port = _free_port()
        proc = subprocess.Popen(
            [binary, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                with contextlib.suppress(OSError):
                    _get(f"http://127.0.0.1:{port}/-/healthy", 1)
                    break
                time.sleep(0.1)
            per_kind: dict[str, float] = {}
            results: dict[str, bool | None] = {}
            wall = 0.0
            for kind in KINDS:
                group = [t for t in ts if t.kind == kind]
                cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
                results.update(asyncio.run(_probe_all(port, group, timeout)))
                wall = max(wall, time.monotonic() - t0)
                per_kind[kind] = (_cpu_seconds(proc.pid) - cpu0) / len(group) * 1e6
            peak = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    false_failures = sum(1 for t in ts if not t.hole and results.get(t.id) is not True)
    holes_ok = sum(1 for t in ts if t.hole and results.get(t.id) is not False)
    mean = sum(per_kind[k] * sum(1 for t in ts if t.kind == k) for k in KINDS) / len(ts)
    return Side("blackbox_exporter", len(ts), wall, mean, false_failures, holes_ok, peak, per_kind)


def engine_per_kind(ts: list[Target], timeout: float) -> dict[str, float]:
    """CPU per check of the probe engine alone (this process, no daemon), per kind, healthy targets."""
    from probes.dns import DnsSettings
    from probes.engine import Check, ProbeEngine
    from probes.http import HttpSettings
    from probes.tcp import TcpSettings

    engine = ProbeEngine()
    out: dict[str, float] = {}
    try:
        for kind in KINDS:
            checks = []
            for t in ts:
                if t.kind != kind or t.hole:
                    continue
                host, _, port = t.address.rpartition(":")
                settings = (
                    HttpSettings(url=t.address)
                    if kind == "http"
                    else TcpSettings(host=host, port=int(port))
                    if kind == "tcp"
                    else DnsSettings(server=host, port=int(port), name="portal.zonas.test")
                )
                checks.append(Check(t.id, kind, settings, timeout))
            engine.run(checks)  # warm-up
            c0 = time.process_time()
            engine.run(checks)
            out[kind] = (time.process_time() - c0) / len(checks) * 1e6
    finally:
        engine.close()
    return out


# dnsmasq servers the healthy DNS checks are spread over: one alone overflows its socket's receive
# buffer when thousands of queries arrive at once (the kernel's RcvbufErrors), which both tools
# would then report as timeouts of a healthy server. Four were enough until the engine sent its
# 2,300 queries in a third of the time: then ~50 of them overflowed four (a first cycle: 49 timeouts),
# and eight once the engine left no garbage cycles (72 timeouts in one run of four, UdpRcvbufErrors).
DNS_SERVERS = 16


@contextlib.contextmanager
def lab() -> Iterator[tuple[str, dict[str, int], list[tuple[str, int]]]]:
    from tests.lab import Lab
    from tests.servers import peers

    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    servers = [(f"127.0.0.{53 + k}", _free_port()) for k in range(DNS_SERVERS)]
    with Lab() as the_lab, peers() as ports, contextlib.ExitStack() as stack:
        hole = the_lab.add_host()
        hole.run("iptables", "-A", "INPUT", "-p", "tcp", "-j", "DROP")
        hole.run("iptables", "-A", "INPUT", "-p", "udp", "-j", "DROP")
        for address, port in servers:
            proc = subprocess.Popen(
                [dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                 f"--listen-address={address}", "--bind-interfaces", f"--port={port}", "--user=root", "--pid-file=",
                 "--address=/portal.zonas.test/10.213.0.10", "--dns-forward-max=10000", "--cache-size=10000"],
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            stack.callback(proc.wait, timeout=10)
            stack.callback(proc.terminate)
        time.sleep(0.5)
        yield hole.address, ports, servers


def run_rate(hole: str, ports: dict[str, int], dns: list[tuple[str, int]], per_minute: int, interval: float,
             timeout: float, hole_share: float) -> tuple[Side, float]:  # fmt: skip
    """``per_minute`` checks a minute as a daemon runs them: one target each per ``interval``, their
    starts spread over all of it but the timeout and 3 s; the daemon's CPU per check over a whole
    cycle, and the share of one core that makes. 100,000 a minute is 15,000 targets every 9 s (2 s
    timeout, starts spread over 4 s): a configuration file is capped at 4 MiB (about 40,000
    targets), and the daemon refuses to start with more checks than its open-file limit can hold
    hanging at once (this machine's hard limit is 20,000 and cannot be raised in its container);
    the rate, the mix and so the CPU per check are those of 100,000 targets every 60 s."""
    n = max(len(KINDS), round(per_minute * interval / 60))
    ts = targets(n, hole_share, hole, ports, dns)
    side = run_vigia(ts, timeout, 1, interval - timeout - 3.0)
    side.tool = f"vigia, {per_minute // 1000}k/min"
    return side, side.cpu_us_per_check * len(ts) / interval / 1e6


def run(n: int = 10_000, hole_share: float = 0.3, timeout: float = 5.0, cycles: int = 2, spread: float = 1.0,
        per_minute: int = 100_000, rate_interval: float = 9.0, rate_timeout: float = 2.0) -> None:  # fmt: skip
    """Every check at once (as the blackbox_exporter side is driven: the goals are read on that
    row), then the same checks with their starts spread over ``spread`` seconds (the daemon's
    default for this interval is a tenth of it): a check starting at its offset ends up to
    ``spread`` later, by design."""
    if os.geteuid() != 0:
        print("engine vs blackbox_exporter: needs root (network namespaces, iptables)")
        return
    with lab() as (hole, ports, dns):
        ts = targets(n, hole_share, hole, ports, dns)
        v = run_vigia(ts, timeout, cycles, 0.0)
        spread_side = run_vigia(ts, timeout, cycles, spread)
        spread_side.tool = f"vigia, spread {spread:g}s"
        b = run_blackbox(ts, timeout)
        engine = engine_per_kind(ts, timeout)
        rate, cores = run_rate(hole, ports, dns, per_minute, rate_interval, rate_timeout, hole_share)
    holes = sum(t.hole for t in ts)
    print(f"Probe engine: {len(ts)} checks (HTTP, TCP, DNS, a third each), {holes} blackholed, timeout {timeout:g} s")
    head = f"{'tool':<18} {'wall s':>7} {'CPU us/check':>13} {'false fail':>10} {'hole != timeout':>15}"
    print(f"{head} {'peak RSS MB':>11} {'no data':>7}")
    for side in (v, b, spread_side, rate):
        if side is None:
            print(f"{'blackbox_exporter':<18} (not installed: Debian package prometheus-blackbox-exporter)")
            continue
        print(
            f"{side.tool:<18} {side.wall_s:>7.2f} {side.cpu_us_per_check:>13.0f} {side.false_failures:>10} "
            f"{side.hole_not_timeout:>15} {side.peak_rss_mb:>11.0f} {side.no_data:>7}"
        )
    for side in (v, spread_side, rate):
        if side.false_reasons:
            said = ", ".join(f"{k} {n}" for k, n in sorted(side.false_reasons.items()))
            print(f"  {side.tool}: false failures said {said}")
    print(
        f"  spread row: {rate.checks:,} targets every {rate_interval:g} s, starts spread over "
        f"{rate_interval - rate_timeout - 3:g} s, timeout {rate_timeout:g} s: {cores:.2f} of one core "
        f"(goal: 100,000 a minute under 0.5)"
    )
    kinds = ", ".join(f"{k} {engine[k]:.0f}" for k in KINDS)
    print(f"  vigia engine alone, CPU us per healthy check: {kinds}")
    if b is not None:
        bb = ", ".join(f"{k} {b.per_kind_us[k]:.0f}" for k in KINDS)
        print(f"  blackbox_exporter CPU us per probe: {bb}")
        share = v.cpu_us_per_check / max(b.cpu_us_per_check, 1e-9)
        print(
            f"  goals (all at once): false failures 0 ({v.false_failures}); wall <= {timeout + 1:g} s "
            f"({v.wall_s:.2f}); CPU per check <= 0.35 of blackbox ({share:.2f} of it); "
            f"peak RSS <= 400 MB ({v.peak_rss_mb:.0f})"
        )


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checks", type=int, default=10_000)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--spread", type=float, default=1.0)
    ap.add_argument("--per-minute", type=int, default=100_000, help="the spread row's checks a minute")
    a = ap.parse_args()
    run(a.checks, timeout=a.timeout, cycles=a.cycles, spread=a.spread, per_minute=a.per_minute)
