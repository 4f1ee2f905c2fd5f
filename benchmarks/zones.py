"""Zone benchmarks.

1. One probe cycle of 32 zones x 4 checks (gateway ICMP, portal HTTP, DNS through the zone's
   resolver, portal TCP) with 8 zones down, in a network-namespace lab: goal, the cycle ends
   within the probe timeout + 1 s.
2. RADIUS usage for one month over 1,000,000 radacct rows (stock schema, local PostgreSQL):
   goal, <= 5 s for the month's per-zone figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def zone_cycle(timeout: float = 2.0, n_zones: int = 32) -> dict[str, float]:
    import config as cfg
    from monitor.runtime.cycle import CycleRunner
    from tests.lab import Lab

    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        zones = []
        for i in range(n_zones):
            host = lab.add_host()
            host.spawn(
                sys.executable,
                str(ROOT / "tests" / "portal_server.py"),
                "--bind",
                host.address,
                "--seconds",
                "60",
                stdout=subprocess.DEVNULL,
            )
            host.spawn(
                dnsmasq,
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                f"--listen-address={host.address}",
                "--bind-interfaces",
                "--user=root",
                "--pid-file=",
                "--address=/portal.zona.test/10.213.0.1",
                stderr=subprocess.DEVNULL,
            )
            zones.append((f"ZB-{i + 1:02d}", host))
        time.sleep(1.5)  # portals and resolvers start
        for _, host in zones[: n_zones // 4]:
            host.down()
        lines = [f"zone_defaults: {{interval: 10s, timeout: {timeout}s, packets: 3}}", "targets:", "zones:"]
        for zid, host in zones:
            lines.append(
                f"  - {{id: {zid}, name: {zid}, lat: 10.4, lon: -75.5, gateway: {host.address}, "
                f"portal_url: 'http://{host.address}/', dns: {{name: portal.zona.test}}}}"
            )
        for zid, host in zones:
            lines.insert(
                2,
                f"  - {{id: {zid}-tcp, probe: tcp, group: zones, timeout: {timeout}s, "
                f"tcp: {{host: {host.address}, port: 80}}}}",
            )
        path = Path(tmp) / "bench.yml"
        path.write_text("\n".join(lines) + "\n")
        conf = cfg.parse(str(path), state_dir=tmp)
        runner = CycleRunner()
        try:
            runner.run(conf.targets)  # warm-up
            t0 = time.monotonic()
            out = runner.run(conf.targets)
            wall = time.monotonic() - t0
        finally:
            runner.close()
        failed = sum(1 for r in out.results if not r.success)
    return {"checks": len(conf.targets), "failed": failed, "wall": wall, "timeout": timeout}


def radius_month(rows: int = 1_000_000) -> dict[str, float] | None:
    from monitor.runtime.usage import DayTally
    from probes.usage.radius import ZoneMatch
    from probes.usage.radius_reader import RadiusReader
    from tests.accounting import accounting_db, insert, month_of_sessions

    start = datetime(2025, 1, 1, 5, 0, tzinfo=UTC)
    zones = [
        ZoneMatch("ZD-01", ("10.213.1.2",)),
        ZoneMatch("ZD-02", ("10.213.2.2", "10.213.3.2")),
        ZoneMatch("ZD-04", (), r"^AA-BB-CC-00-00-0[12]:ZonaDigital-ZD04$"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ctx = accounting_db("postgresql", Path(tmp))
            url = ctx.__enter__()
        except BaseException as exc:  # pytest.skip (a BaseException) when the server is missing
            print(f"  RADIUS benchmark skipped: {exc}")
            return None
        try:
            t0 = time.monotonic()
            insert(url, month_of_sessions(rows, start), batch=50_000)
            load = time.monotonic() - t0
            reader = RadiusReader(url, zones)
            try:
                times = []
                for _ in range(3):
                    t0 = time.monotonic()
                    reader.usage(start, start + timedelta(days=31))
                    times.append(time.monotonic() - t0)
                t0 = time.monotonic()
                reader.usage(start + timedelta(days=10), start + timedelta(days=11))
                day = time.monotonic() - t0
                t0 = time.monotonic()
                reader.active(start + timedelta(days=31))
                active = time.monotonic() - t0
                # A cycle of today: a full recount of the day (what a reader without a watermark does)
                # against the incremental read after 100 new sessions and the open ones' news.
                d0, d1 = start + timedelta(days=10), start + timedelta(days=11)
                t0 = time.monotonic()
                reader.usage(d0, d1), reader.peak_concurrent(d0, d1), reader.active(d1)
                full = time.monotonic() - t0
                t0 = time.monotonic()
                tally = DayTally(reader, d0, d1)
                first = time.monotonic() - t0
                fresh = [replace(s, start=d0 + timedelta(hours=23)) for s in month_of_sessions(100, d0, seed=9)]
                insert(url, fresh, first=rows)
                t0 = time.monotonic()
                tally.advance(reader)
                tally.usage(reader), tally.peak(d1), tally.active(d1, 7200)
                incremental = time.monotonic() - t0
                t0 = time.monotonic()
                tally.advance(reader)
                tally.usage(reader), tally.peak(d1), tally.active(d1, 7200)
                idle = time.monotonic() - t0
            finally:
                reader.close()
        finally:
            ctx.__exit__(None, None, None)
    return {
        "rows": rows,
        "load": load,
        "month": sorted(times)[1],
        "day": day,
        "active": active,
        "full": full,
        "first": first,
        "incremental": incremental,
        "idle": idle,
        "day_rows": len(tally.rows),
    }


def main(*, smoke: bool = False) -> None:
    if os.geteuid() != 0:
        print("zone benchmarks need root (network namespaces)")
        return
    n_zones = 4 if smoke else 32
    z = zone_cycle(n_zones=n_zones)
    print(
        f"Zones: {z['checks']:.0f} checks ({n_zones} zones x 4), {n_zones // 4} zones down: cycle {z['wall']:.2f} s "
        f"(goal <= timeout {z['timeout']:g} s + 1 s), {z['failed']:.0f} checks failed"
    )
    r = radius_month(2_000 if smoke else 1_000_000)
    if r is not None:
        print(
            f"RADIUS: {r['rows']:.0f} radacct rows (PostgreSQL, stock schema, loaded in {r['load']:.0f} s): "
            f"month per zone {r['month']:.2f} s (goal <= 5), one day {r['day']:.3f} s, "
            f"sessions active now {r['active']:.3f} s"
        )
        print(
            f"RADIUS today ({r['day_rows']:.0f} rows): full recount {r['full']:.3f} s per cycle; incremental: "
            f"first read {r['first']:.3f} s, a cycle with 100 new sessions {r['incremental']:.3f} s, "
            f"a cycle with none {r['idle']:.3f} s"
        )


if __name__ == "__main__":
    main()
