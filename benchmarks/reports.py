"""Month close on a full month: 1-minute results for 32 zones plus 100 data-centre services.

Generates (once, cached in benchmarks/out/) a SQLite store with about 6 million rows: 44,640
zone samples per zone (1.43 M) and 44,640 probe results per service (4.46 M), a few outages and
usage rows; then closes the month in a child process and reports its wall time and peak memory.
Goal: <= 10 s and <= 500 MB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
TZ = ZoneInfo("America/Bogota")


def build(db: Path, *, zones: int = 32, services: int = 100, days: int = 31) -> float:
    sys.path.insert(0, str(ROOT))
    from store import db as st
    from store import schema

    t0 = time.monotonic()
    store = st.Store(f"sqlite:///{db}", "bench")
    store.migrate()
    start = datetime(2025, 1, 1, tzinfo=TZ).timestamp()
    minutes = days * 24 * 60
    with store.engine.begin() as conn:
        for z in range(zones):
            zone = f"ZD-{z + 1:02d}"
            conn.execute(
                schema.zone_samples_t.insert(),
                [
                    {
                        "instance": "bench",
                        "zone": zone,
                        "ts": start + 60 * k,
                        "interval": 60.0,
                        "status": "up",
                        "verdict": "ok",
                        "in_hours": True,
                        "loss": 0.0,
                        "rtt": 0.002,
                        "checks": '{"gateway":true}',
                    }
                    for k in range(minutes)
                ],
            )
            conn.execute(
                schema.outages.insert().values(
                    instance="bench",
                    target=zone,
                    kind="down",
                    started_at=start + 86400 * (z % 28) + 3600,
                    ended_at=start + 86400 * (z % 28) + 5400,
                    reason="gateway_timeout",
                )
            )
        for s in range(services):
            conn.execute(
                schema.results.insert(),
                [
                    {
                        "instance": "bench",
                        "target": f"svc-{s:03d}",
                        "probe": "http",
                        "ts": start + 60 * k,
                        "duration": 0.01,
                        "success": True,
                        "reason": "",
                        "message": "",
                        "data": '{"values":{"status_code":200}}',
                    }
                    for k in range(minutes)
                ],
            )
    store.rebuild_spans()  # the rows went in behind the store's back
    # As the daemon's hourly job leaves them: every hour rolled up, its raw rows folded into chunks.
    store.rollup(start + days * 86400 + 3600)
    store.close()
    return time.monotonic() - t0


def config(path: Path, db: Path, zones: int = 32) -> None:
    lines = [
        f"instance: bench\nstate_dir: {OUT}\nstore: {{url: 'sqlite:///{db}'}}\n"
        "reports: {languages: [es], formats: [html, pdf, csv]}\nzone_defaults: {hours: '06:00-22:00'}\nzones:"
    ]
    for z in range(zones):
        lines.append(
            f"  - {{id: ZD-{z + 1:02d}, name: Zona {z + 1}, barrio: B{z % 7}, ucg: {z % 15 + 1}, "
            f"localidad: L{z % 3}, lat: {10.3 + z * 0.005}, lon: {-75.5 - z * 0.004}}}"
        )
    path.write_text("\n".join(lines) + "\n")


def main(*, smoke: bool = False) -> None:
    """The full month (cached), or with ``smoke`` a day of 2 zones and 3 services (a fresh file)."""
    OUT.mkdir(parents=True, exist_ok=True)
    size = {"zones": 2, "services": 3, "days": 1} if smoke else {"zones": 32, "services": 100, "days": 31}
    db = OUT / ("smoke.db" if smoke else "month-v9.db")  # schema 9: the results in hourly chunks
    if smoke:
        db.unlink(missing_ok=True)
    if not db.exists():
        print(f"generating the month ({db.name}) ...", flush=True)
        print(f"  {build(db, **size):.0f} s to write the rows")
    conf = OUT / ("smoke.yml" if smoke else "bench.yml")
    config(conf, db, size["zones"])
    command = [sys.executable, "-m", "monitor", "report", "month", "--config", str(conf), "--month", "2025-01",
               "--refreeze", "--output-dir", str(OUT / "reports")]  # fmt: skip
    # The close's own process tree, sampled: getrusage(RUSAGE_CHILDREN) would report the largest
    # child this benchmark run ever waited for (a daemon or a server of an earlier benchmark).
    wall, _, together, said = _timed(command)
    print(
        f"Month close: {size['zones']} zones + {size['services']} services, {size['days']} days of 1-minute rows: "
        f"{wall:.1f} s (goal <= 10), "
        f"peak RSS {together / 2**20:.0f} MB (goal <= 500), {len(said.split())} files"
    )


if __name__ == "__main__":
    main()


def _tree_peak(pid: int) -> tuple[int, int, int]:
    """Wait for ``pid``: its exit status, its own peak RSS and the peak of its RSS and its
    descendants' summed (bytes, sampled every 50 ms: the typesetting workers run beside it)."""
    import psutil

    # Sampled, both: the child's own ru_maxrss starts from its parent's at the fork (Linux keeps it
    # across exec), so after a big benchmark in this process it said 1.3 GB for a 280 MB close.
    root, alone, together = psutil.Process(pid), 0, 0
    while True:
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            return status, alone, together
        with contextlib.suppress(psutil.Error):  # a worker that ended between the listing and the reading
            own = root.memory_info().rss
            alone = max(alone, own)
            together = max(together, own + sum(p.memory_info().rss for p in root.children(recursive=True)))
        time.sleep(0.05)


def main_pg(*, smoke: bool = False) -> None:
    """The month close of 1,000 zones of 1-minute samples in PostgreSQL (goal <= 30 s, <= 600 MB for
    the close and its typesetting workers together), in a database of its own, built on the server
    (generate_series) and dropped after."""
    from benchmarks.instances import SIZE
    from tests.pgdb import available, database

    if not available():
        print("Month close on PostgreSQL: the server is not running (deploy/test-services.sh): skipped")
        return
    zones, days = (5, 1) if smoke else (1000, 31)
    with database() as url:
        sys.path.insert(0, str(ROOT))
        import sqlalchemy as sa

        from store.db import Store

        store = Store(url, "bench")
        store.migrate()
        start = datetime(2025, 1, 1, tzinfo=TZ).timestamp()
        t0 = time.monotonic()
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO zone_samples (instance, zone, ts, interval, status, verdict, in_hours, loss, rtt, "
                    "checks) SELECT 'bench', 'ZD-' || lpad(z::text, 4, '0'), :start + m * 60.0, 60, 'up', 'ok', true, "
                    "0, 0.002, '{}' FROM generate_series(1, :zones) z, generate_series(0, :minutes - 1) m"
                ),
                {"start": start, "zones": zones, "minutes": days * 1440},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO outages (instance, target, kind, started_at, ended_at, reason, message) "
                    "SELECT 'bench', 'ZD-' || lpad(z::text, 4, '0'), 'down', :start + 86400 * (z % 28) + 36000, "
                    ":start + 86400 * (z % 28) + 36000 + 60 * (z % 90), 'gateway_timeout', '' "
                    "FROM generate_series(1, :zones) z"
                ),
                {"start": start, "zones": zones},
            )
        store.rebuild_spans()  # the samples went in behind the store's back
        built = time.monotonic() - t0
        with store.engine.connect() as conn:
            size = conn.execute(sa.text(SIZE.format(fn="pg_total_relation_size", t="zone_samples"))).scalar_one()
        store.close()
        folder = Path(tempfile.mkdtemp(prefix="vigia-bench-"))
        try:  # its reports are ~20 MB a run
            wall, alone, together, preview_html, preview_all, pdf = _close_and_preview(folder, url, zones)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"Month close on PostgreSQL: {zones} zones x {days} days of 1-minute samples ({zones * days * 1440:,} rows, "
        f"{size / 2**20:.0f} MiB, built in {built:.0f} s): {wall:.1f} s (goal <= 30), peak RSS of the close "
        f"and its typesetting workers together {together / 2**20:.0f} MB (goal <= 600; the close alone "
        f"{alone / 2**20:.0f} MB)\n"
        f"  --preview of that month: figures and HTML {preview_html:.1f} s (goal <= 10); "
        f"with its PDF {preview_all:.1f} s; the month's PDF {pdf / 2**20:.1f} MiB"
    )


def _close_and_preview(folder: Path, url: str, zones: int) -> tuple[float, int, int, float, float, int]:
    """The month closed, then previewed twice (HTML alone, then with its PDF), in ``folder``: the
    close's wall time and peak RSS (its own, its tree's), the previews' wall times, the PDF's bytes."""
    (folder / "url").write_text(url)
    lines = [f"instance: bench\nstate_dir: {folder}\nstore: {{url_file: {folder / 'url'}}}\n"
             "reports: {languages: [es], formats: [html, pdf, csv]}\nzones:"]  # fmt: skip
    lines += [f"  - {{id: ZD-{z:04d}, name: Zona {z}, lat: 10.4, lon: -75.5}}" for z in range(1, zones + 1)]
    (folder / "bench.yml").write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "monitor", "report", "month", "--config", str(folder / "bench.yml"),
               "--month", "2025-01", "--output-dir", str(folder / "reports")]  # fmt: skip
    wall, alone, together, _ = _timed(command)
    pdf = sum(p.stat().st_size for p in (folder / "reports").glob("*/zonas-digitales-*.pdf"))
    preview_html, *_ = _timed([*command, "--preview", "--format", "html"])
    preview_all, *_ = _timed([*command, "--preview"])
    return wall, alone, together, preview_html, preview_all, pdf


def _timed(command: list[str]) -> tuple[float, int, int, str]:
    """Run a report command: its wall time, its own peak RSS and its process tree's (bytes), and
    what it printed."""
    # Files, not pipes: a full pipe would stall the child.
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        child = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                 stdout=out, stderr=errors)  # fmt: skip
        status, alone, together = _tree_peak(child.pid)
        wall = time.monotonic() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            print(errors.read().decode()[-2000:])
            raise SystemExit(1)
        out.seek(0)
        return wall, alone, together, out.read().decode()
