"""Several instances on one PostgreSQL (issue 16): failover time, bytes per stored check, and three
instances writing 5,000 checks a minute each. Needs the local PostgreSQL server
(deploy/test-services.sh starts it); each figure gets a database of its own, dropped after.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.pgdb import available, database

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leader(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            lines = resp.read().decode().splitlines()
        return any(line.startswith("vigia_leader{") and line.endswith(" 1.0") for line in lines)
    except OSError:
        return False


def failover(ttl: float, advisory: bool, rounds: int) -> list[float]:
    """Seconds from kill -9 of the leading daemon to the other daemon leading, per round."""
    took = []
    with database() as url, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "url").write_text(url)
        procs: list[tuple[subprocess.Popen[bytes], int]] = []

        def start(i: int) -> tuple[subprocess.Popen[bytes], int]:
            port = _port()
            cfg = Path(tmp) / f"c{i}.yml"
            cfg.write_text(
                f"instance: bench-{i}\nstate_dir: {tmp}/s{i}\ndefaults: {{interval: 5s, timeout: 1s}}\n"
                f"cluster: {{lease_ttl: {ttl:g}s, advisory_locks: {str(advisory).lower()}}}\n"
                f"store: {{url_file: {tmp}/url}}\ntargets:\n"
                "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
            )
            argv = [sys.executable, "-m", "monitor", "run", "--config", str(cfg), "--listen", f"127.0.0.1:{port}"]
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port

        try:
            procs = [start(0), start(1)]
            for r in range(rounds):
                end = time.monotonic() + 60
                while not any(_leader(p) for _, p in procs):
                    if time.monotonic() > end:
                        raise RuntimeError("no leader after 60 s")
                    time.sleep(0.1)
                i = next(k for k, (_, p) in enumerate(procs) if _leader(p))
                victim, _ = procs[i]
                t0 = time.monotonic()
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                other = procs[1 - i][1]
                while not _leader(other):
                    if time.monotonic() - t0 > ttl * 4 + 30:
                        raise RuntimeError("no takeover")
                    time.sleep(0.05)
                took.append(time.monotonic() - t0)
                procs[i] = start(10 + r)
        finally:
            for p, _ in procs:
                p.terminate()
                p.wait(timeout=15)
    return took


# A partitioned table's size is its partitions' (the parent holds no rows).
SIZE = (
    "SELECT {fn}('{t}') + coalesce((SELECT sum({fn}(inhrelid)) FROM pg_inherits WHERE inhparent = '{t}'::regclass), 0)"
)


def _icmp_batch(cycle: int, n: int, prefix: str) -> list[object]:
    """One cycle of ICMP results as the engine makes them: start times spread over the first
    seconds, round-trip times that vary from check to check, now and then a lost packet."""
    import random

    from probes.result import ProbeResult

    t0 = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=60 * cycle)
    out = []
    for k in range(n):
        rnd = random.Random(cycle * 100_003 + k)
        rtts = sorted(0.0015 + rnd.expovariate(1 / 0.0006) for _ in range(3))
        lost = 1 if rnd.random() < 0.02 else 0
        values = {"rtt_min_seconds": rtts[0], "rtt_avg_seconds": sum(rtts) / 3, "rtt_max_seconds": rtts[2],
                  "rtt_jitter_seconds": rtts[2] - rtts[0], "loss_ratio": lost / 3, "packets_sent": 3.0,
                  "packets_received": 3.0 - lost}  # fmt: skip
        started = t0 + timedelta(seconds=(k % 600) / 100 + rnd.random() / 1000)
        out.append(ProbeResult(f"{prefix}-{k:04d}", "icmp", started, rtts[2] + 0.0001, True, "", "", values))
    return out


def bytes_per_check(checks: int) -> tuple[float, float]:
    """(raw, once rolled up) bytes per stored ICMP check in PostgreSQL, indexes included: written
    as the daemon writes them, then the hours rolled up (each folded into one chunk per target)."""
    import sqlalchemy as sa

    from store.db import Store

    per_cycle = 500
    cycles = max(1, checks // per_cycle)

    def size(conn: sa.Connection) -> float:
        tables = ("probe_results", "probe_result_chunks")
        return sum(conn.execute(sa.text(SIZE.format(fn="pg_total_relation_size", t=t))).scalar_one() for t in tables)

    with database() as url:
        store = Store(url, "bench")
        store.migrate()
        for cycle in range(cycles):
            store.write_cycle(_icmp_batch(cycle, per_cycle, "ZD"), [], 0.0)  # type: ignore[arg-type]
        n = store.count_results()
        with store.engine.connect() as conn:
            raw = size(conn) / n
        end = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=60 * cycles + 3600)
        store.rollup(end.timestamp())
        assert store.count_results() == n, "the rollup lost checks"
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # The folded rows' space, freed as autovacuum frees it, and their index entries: the raw
            # table keeps about an hour of rows, its pages reused from one hour to the next.
            conn.exec_driver_sql("VACUUM probe_results")
            conn.exec_driver_sql("REINDEX TABLE probe_results")
            folded = size(conn) / n
        store.close()
    return raw, folded


def _writer(url: str, name: str, per_minute: int, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from store.db import Store

    store = Store(url, name)
    store.migrate()
    per_second = per_minute / 60
    made = written = 0
    latencies = []
    start = time.monotonic()
    lag_mid = 0.0
    while (now := time.monotonic() - start) < seconds:
        made = int(now * per_second) + 1
        batch = _icmp_batch(written, made - written, name) if made > written else []
        if batch:
            t = time.perf_counter()
            store.write_cycle(batch, [], 0.0)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - t)
            written = made
        if not lag_mid and now > seconds / 2:
            lag_mid = (time.monotonic() - start) - written / per_second
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start - now)))
    lag_end = (time.monotonic() - start) - written / per_second
    store.close()
    out.put((name, written, statistics.median(latencies), max(latencies), lag_mid, lag_end))


def three_writers(per_minute: int, minutes: float) -> list[tuple[str, int, float, float, float, float]]:
    """Three processes writing ``per_minute`` checks each, one transaction a second, for ``minutes``."""
    with database() as url:
        from store.db import Store

        Store(url, "setup").migrate()
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(url, f"w{i}", per_minute, minutes * 60, out)) for i in range(3)]
        for p in procs:
            p.start()
        rows = [out.get(timeout=minutes * 60 + 120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    return sorted(rows)


def main(smoke: bool = False) -> None:
    if not available():
        print("Several instances: PostgreSQL is not running on 127.0.0.1:5432 (deploy/test-services.sh): skipped")
        return
    print("Several instances on one PostgreSQL")
    ttl = 3.0 if smoke else 15.0
    for advisory in (True, False):
        took = failover(ttl, advisory, 1 if smoke else 3)
        how = "advisory lock (kill -9 frees it)" if advisory else "lease expiry (advisory_locks: false)"
        print(f"  failover, {how}: {', '.join(f'{t:.1f}' for t in took)} s (goal <= TTL {ttl:g} + 5 s)")
    raw, folded = bytes_per_check(2_000 if smoke else 120_000)
    print(
        f"  bytes per stored ICMP check, PostgreSQL, indexes included: {folded:.0f} once its hour is rolled up "
        f"(goal <= 100); {raw:.0f} while raw (the current hour)"
    )
    minutes = 0.1 if smoke else 10.0
    for name, written, median, worst, mid, end in three_writers(5_000, minutes):
        print(
            f"  writer {name}: {written} checks in {minutes:g} min, write median {median * 1000:.1f} ms, "
            f"worst {worst * 1000:.1f} ms; behind by {mid:.2f} s at half time, {end:.2f} s at the end "
            "(goal: no growth; one batch a second)"
        )
