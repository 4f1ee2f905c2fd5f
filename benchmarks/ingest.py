"""Zone agents into one centre on PostgreSQL (issue 29): many agents pushing a minute's results,
then many flushing a backlog at once, over real HTTP into a real daemon. Prints results stored a
second, the centre's CPU per result, and /metrics scrape times meanwhile. Goals: >= 10,000
results/s and <= 100 us of centre CPU per result. Needs the local PostgreSQL server."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.instances import _port
from tests.pgdb import available, database

ROOT = Path(__file__).resolve().parent.parent


def _centre(tmp: Path, url: str, zones: int) -> tuple[subprocess.Popen[bytes], int]:
    (tmp / "url").write_text(url)
    listed = "".join(f"  - {{id: Z{i:04d}, name: Z{i}, lat: 10.4, lon: -75.5}}\n" for i in range(zones))
    (tmp / "c.yml").write_text(
        f"instance: bench\nstate_dir: {tmp}/state\nstore: {{url_file: {tmp}/url}}\n"
        "defaults: {interval: 5s, timeout: 1s}\ntargets:\n"
        "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        f"zones:\n{listed}"
    )
    port = _port()
    argv = [sys.executable, "-m", "monitor", "run", "--config", str(tmp / "c.yml"), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(argv, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/-/ready")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the centre did not get ready")


def _tokens(url: str, zones: int) -> list[str]:
    from store.db import Store

    with Store.opened(url, "bench") as store:
        agents = store.agents()
        return [agents.add(f"Z{i:04d}", "bench", time.time()) for i in range(zones)]


def _batch(zone: str, first: int, n: int) -> bytes:
    now = time.time()
    values = {"loss_ratio": 0.0, "rtt_avg_seconds": 0.003}
    results = [{"seq": first + i, "at": now - 60 + i * 0.01, "check": "gateway", "probe": "icmp", "success": True,
                "duration": 0.004, "values": values} for i in range(n)]  # fmt: skip
    body = {"zone": zone, "version": "bench", "sent_at": now, "boot_time": now - 86400, "clock_synced": True,
            "results": results}  # fmt: skip
    return gzip.compress(json.dumps(body).encode())


def _push(port: int, jobs: list[tuple[str, str, bytes]], stored: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for zone, token, data in jobs:
        conn.request("POST", f"/api/v1/agents/{zone}/results", body=data,
                     headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})  # fmt: skip
        resp = conn.getresponse()
        answer = json.loads(resp.read() or b"{}")
        if resp.status == 200:
            stored.append(int(answer["stored"]))
    conn.close()


def run(plan: list[tuple[int, int, int]], clients: int = 8) -> dict[str, float]:
    """``plan``: groups of (agents, results per batch, batches each), all pushing at once over
    ``clients`` connections; the centre's wall time, CPU and scrape times while it ingests."""
    agents = sum(n for n, _, _ in plan)
    with database() as url, tempfile.TemporaryDirectory() as tmp:
        proc, port = _centre(Path(tmp), url, agents)
        try:
            tokens = _tokens(url, agents)
            time.sleep(11)  # the centre's token cache (10 s) sees the new agents
            jobs, first = [], 0
            for n, per_batch, batches in plan:
                jobs += [(f"Z{a:04d}", tokens[a], _batch(f"Z{a:04d}", 1 + b * per_batch, per_batch))
                         for b in range(batches) for a in range(first, first + n)]  # fmt: skip
                first += n
            jobs.sort(key=lambda j: hash(j[0]))  # the groups' batches interleaved
            share = [jobs[i::clients] for i in range(clients)]
            stored: list[int] = []
            scrapes: list[float] = []
            centre = psutil.Process(proc.pid)
            cpu0, t0 = sum(centre.cpu_times()[:2]), time.monotonic()
            threads = [threading.Thread(target=_push, args=(port, s, stored)) for s in share]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                s0 = time.monotonic()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/metrics")
                conn.getresponse().read()
                conn.close()
                scrapes.append(time.monotonic() - s0)
                time.sleep(0.2)
            for t in threads:
                t.join()
            wall, cpu = time.monotonic() - t0, sum(centre.cpu_times()[:2]) - cpu0
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    total = sum(stored)
    return {"results": total, "per_s": total / wall, "cpu_us": cpu / max(total, 1) * 1e6,
            "scrape_ms": statistics.median(scrapes) * 1000 if scrapes else 0.0,
            "scrape_max_ms": max(scrapes) * 1000 if scrapes else 0.0}  # fmt: skip


def main(*, smoke: bool = False) -> None:
    print("Zone agents into one centre (PostgreSQL), real HTTP, gzip batches")
    if not available():
        print("  PostgreSQL is not running (deploy/test-services.sh starts it)")
        return
    runs = [("a minute of results", [(20, 20, 1)]), ("a backlog flushed at once", [(5, 200, 2)]),
            ("both at once", [(20, 20, 1), (5, 200, 2)])] if smoke else [
        ("1,000 agents, a minute of results each", [(1000, 20, 1)]),
        ("200 agents flushing a backlog at once", [(200, 2000, 3)]),
        ("both at once (1,000 agents' minute, 200 agents' backlog)", [(1000, 20, 1), (200, 2000, 3)]),
    ]  # fmt: skip
    for what, plan in runs:
        r = run(plan)
        print(f"  {what}: {r['results']:,.0f} results, {r['per_s']:,.0f}/s (goal >= 10,000), centre CPU "
              f"{r['cpu_us']:.0f} us/result (goal <= 100); /metrics median {r['scrape_ms']:.1f} ms, "
              f"max {r['scrape_max_ms']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
