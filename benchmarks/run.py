"""Run the benchmarks and print their figures.

.venv/bin/python -m benchmarks.run                    # everything (takes ~15 minutes, as root)
.venv/bin/python -m benchmarks.run --footprint-minutes 0   # skip the 10-minute footprint run
.venv/bin/python -m benchmarks.run --smoke            # every benchmark at a tiny size (CI: they must not rot)
"""

from __future__ import annotations

import argparse

from benchmarks import (
    agent_footprint,
    engine_vs_blackbox,
    exposition,
    footprint,
    icmp_vs_fping,
    ingest,
    instances,
    status_page,
    zones,
    zones_daemon,
)
from benchmarks import reports as reports_bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,5000", help="ICMP target counts")
    ap.add_argument("--timeout", type=float, default=1.0, help="ICMP per-cycle timeout, seconds")
    ap.add_argument("--footprint-minutes", type=float, default=10.0)
    ap.add_argument("--no-zones", action="store_true", help="skip the zone lab and the 1M-row RADIUS benchmark")
    ap.add_argument("--checks", type=int, default=10_000, help="checks in the engine vs blackbox_exporter run")
    ap.add_argument("--smoke", action="store_true", help="every benchmark at a tiny size; figures mean nothing")
    args = ap.parse_args()
    if args.smoke:
        print("SMOKE RUN: every benchmark at a tiny size, to prove it still runs; the figures mean nothing")
        args.sizes, args.timeout, args.footprint_minutes, args.checks = "50", 0.5, 0.1, 150

    print("ICMP: one echo per target, loopback addresses, same run")
    print(f"{'tool':<16} {'targets':>7} {'wall s':>7} {'CPU us/probe':>13} {'misattributed':>13} {'false down':>10}")
    for n in (int(x) for x in args.sizes.split(",")):
        rows = [icmp_vs_fping.run_vigia(n, args.timeout), icmp_vs_fping.run_fping(n, args.timeout)]
        for row in rows:
            if row is None:
                print(f"{'fping':<16} {n:>7} (not installed)")
                continue
            print(
                f"{row.tool:<16} {row.targets:>7} {row.wall_s:>7.3f} {row.cpu_us_per_probe:>13.1f} "
                f"{row.misattributed:>13} {row.false_down:>10}"
            )
        v, f = rows
        if f is not None and f.cpu_us_per_probe > 0:
            print(
                f"  ratio vigia/fping CPU per probe: {v.cpu_us_per_probe / f.cpu_us_per_probe:.2f} (goal <= 1.2); "
                f"vigia wall vs timeout+50ms: {v.wall_s:.3f} <= {args.timeout + 0.05:.3f}"
            )

    if not args.smoke:
        n = max(int(x) for x in args.sizes.split(","))
        counted = icmp_vs_fping.instructions(n)
        if counted is None:
            print("  instructions per probe: valgrind or fping missing (not counted)")
        else:
            print(
                f"  user-space instructions per probe at {n} (callgrind, what seconds here cannot settle): "
                f"vigia {counted[0]:,.0f}, fping {counted[1]:,.0f} (the system calls, alike in both, not counted)"
            )

    print("\nExposition")
    e = exposition.run(50, 5) if args.smoke else exposition.run()
    print(
        f"  {e['series']:.0f} series, {e['body_bytes'] / 1024:.0f} KiB: render {e['render_ms']:.1f} ms "
        f"({e['render_us_per_series']:.2f} us/series); scrape from cache, median {e['scrape_ms_median']:.2f} ms"
    )

    print()
    if args.smoke:
        engine_vs_blackbox.run(
            args.checks, timeout=1.0, cycles=1, spread=0.5, per_minute=600, rate_interval=6.0, rate_timeout=1.0
        )
    else:
        engine_vs_blackbox.run(args.checks)

    if not args.no_zones:
        print()
        zones.main(smoke=args.smoke)

    print()
    reports_bench.main(smoke=args.smoke)
    reports_bench.main_pg(smoke=args.smoke)

    print()
    instances.main(smoke=args.smoke)

    print()
    status_page.main(smoke=args.smoke)
    zones_daemon.main(smoke=args.smoke)

    print()
    ingest.main(smoke=args.smoke)

    if args.footprint_minutes > 0:
        print()
        agent_footprint.main(minutes=args.footprint_minutes)
        print(f"\nDaemon footprint: 130 targets, 60 s interval, {args.footprint_minutes:g} min")
        f = footprint.run(args.footprint_minutes)
        print(
            f"  RSS {f['rss_mb']:.1f} MB (peak {f['peak_rss_mb']:.1f} MB, goal <= 80); "
            f"CPU {f['cpu_percent_of_one_core']:.2f} % of one core (goal <= 2)"
        )


if __name__ == "__main__":
    main()
