"""The public status page: render cost per cycle at 32 and 2,000 zones, and requests a second
served from its cache with keep-alive, measured by Debian's wrk (goal >= 2,000/s).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from config import StatusPageSettings
from domain.schedule import Schedule
from domain.zone_state import ZoneState, ZoneStatus
from domain.zones import Zone, ZoneThresholds
from monitor.web.statuspage import StatusPage, StatusServer
from reports.status_page import History

TZ = ZoneInfo("America/Bogota")
STATES = (ZoneStatus.UP, ZoneStatus.UP, ZoneStatus.UP, ZoneStatus.DEGRADED, ZoneStatus.DOWN, ZoneStatus.MAINTENANCE)


def inventory(n: int) -> tuple[list[Zone], dict[str, ZoneState]]:
    zones, states = [], {}
    now = datetime.now(UTC)
    for i in range(n):
        zid = f"ZD-{i + 1:04d}"
        lat, lon = 10.3 + (i % 50) * 0.004, -75.55 + (i // 50) * 0.004
        place = (f"Zona {i + 1}", f"Barrio {i % 97}", i % 15 + 1, f"Localidad {i % 3}", "urbana", lat, lon)
        always = Schedule.always()
        zones.append(Zone(zid, *place, always, "", 0.95, None, (), ZoneThresholds(), {}, {}, None, 3, 1, 60.0))
        st = ZoneState(zid, 3, 1)
        st.status, st.since = STATES[i % len(STATES)], now - timedelta(minutes=i)
        states[zid] = st
    return zones, states


def render_ms(n: int, repeat: int = 3) -> float:
    zones, states = inventory(n)
    page = StatusPage(StatusPageSettings(listen="127.0.0.1:0"), TZ)
    page.refresh(zones, states)  # templates compiled, catalogs read
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        page.refresh(zones, states)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def bars(zones: list[Zone]) -> dict[str, History]:
    """90 days of daily availability a zone, as the daemon's store gives them (a day without data now and then)."""
    rnd = random.Random(7)
    return {
        z.id: History(tuple(None if rnd.random() < 0.05 else rnd.uniform(0.9, 1.0) for _ in range(90)), 0.97)
        for z in zones
    }


def changing_ms(n: int, share: float = 0.01, cycles: int = 30, *, history: bool = True) -> float:
    """CPU per refresh, in ms, when ``share`` of the zones change state each cycle (a minute apart);
    ``history``: each zone with its 90-day bars, as in the daemon (the bulk of a row, 18 MB a page)."""
    zones, states = inventory(n)
    page = StatusPage(StatusPageSettings(listen="127.0.0.1:0"), TZ)
    now = datetime.now(UTC)
    days = bars(zones) if history else None
    page.refresh(zones, states, now, history=days)
    flips = max(1, int(n * share))
    spent = 0.0
    for c in range(cycles):
        now += timedelta(minutes=1)
        for k in range(flips):
            st = states[zones[(c * flips + k) % n].id]
            st.status = ZoneStatus.DOWN if st.status != ZoneStatus.DOWN else ZoneStatus.UP
            st.since = now
        t0 = time.process_time()
        page.refresh(zones, states, now, history=days)
        spent += time.process_time() - t0
    return spent / cycles * 1000


def history_cpu(n: int) -> tuple[float, float, float, float]:
    """CPU seconds of the daily bars' reads at ``n`` zones: the whole 90 days (status_history.histories),
    the first read of DailyHistory, and its read ten minutes later (today only) with the page drawn
    again from it (every zone's today changed). The store holds what those reads read: each zone's
    measured span over the 90 days and four outages (SQLite)."""
    import tempfile

    from reports.status_history import DailyHistory, histories
    from store.db import Store
    from store.schema import outages, zone_spans

    zones, states = inventory(n)
    now = datetime.now(UTC)
    t = now.timestamp()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/v.db", "bench")
        store.migrate()
        with store.engine.begin() as conn:
            conn.execute(zone_spans.insert(), [{"instance": "bench", "zone": z.id, "start": t - 91 * 86400, "end": t}
                                               for z in zones])  # fmt: skip
            conn.execute(outages.insert(), [
                {"instance": "bench", "target": z.id, "kind": "down", "started_at": t - k * 86400 - 3600,
                 "ended_at": t - k * 86400 - 1800, "reason": "gateway_timeout", "message": ""}
                for z in zones for k in (0, 3, 17, 60)
            ])  # fmt: skip
        c0 = time.process_time()
        histories(store.reader(), zones, now, TZ)
        whole = time.process_time() - c0
        daily = DailyHistory()
        c0 = time.process_time()
        read = daily.read(store.reader(), zones, now, TZ)
        first = time.process_time() - c0
        page = StatusPage(StatusPageSettings(listen="127.0.0.1:0"), TZ)
        page.refresh(zones, states, now, history=read)
        c0 = time.process_time()
        read = daily.read(store.reader(), zones, now + timedelta(minutes=10), TZ)
        c1 = time.process_time()
        page.refresh(zones, states, now + timedelta(minutes=10), history=read)  # today's figure of every zone changed
        later, redraw = c1 - c0, time.process_time() - c1
        store.close()
    return whole, first, later, redraw


def requests_per_second(seconds: float = 10.0) -> tuple[float, str] | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    zones, states = inventory(32)
    page = StatusPage(StatusPageSettings(listen="127.0.0.1:0"), TZ)
    page.refresh(zones, states)
    server = StatusServer("127.0.0.1:0", page)
    server.start()
    try:
        out = subprocess.run(
            [wrk, "-t2", "-c16", f"-d{seconds:g}s", f"http://127.0.0.1:{server.port}/"],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout  # fmt: skip
    finally:
        server.stop()
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = "errors" if ("Non-2xx" in out or "Socket errors" in out) else "no errors"
    return (float(match[1]) if match else 0.0), errors


def main(*, smoke: bool = False) -> None:
    sizes = (32, 200) if smoke else (32, 2000)
    print("Status page")
    for n in sizes:
        print(f"  render, {n} zones, none changed (HTML es+en, JSON, a badge per zone): {render_ms(n):.1f} ms")
    n = sizes[-1]
    print(f"  CPU per cycle, {n} zones, 1 % changing, without daily bars: {changing_ms(n, history=False):.1f} ms")
    print(f"  CPU per cycle, {n} zones, 1 % changing, each with 90 days of bars: {changing_ms(n):.1f} ms (goal <= 20)")
    whole, first, later, redraw = history_cpu(n)
    print(f"  daily bars, {n} zones x 90 days: whole read {whole:.2f} s of CPU; kept, first read {first:.2f} s, "
          f"then every 10 min {later:.2f} s and the page drawn again from it {redraw:.2f} s, "
          f"together {later + redraw:.2f} s (goal <= 0.5)")  # fmt: skip
    got = requests_per_second(1.0 if smoke else 10.0)
    if got is None:
        print("  requests a second: wrk is not installed (Debian package wrk)")
    else:
        rate, errors = got
        print(f"  requests a second from the cache, keep-alive, wrk -t2 -c16: {rate:,.0f} (goal >= 2,000), {errors}")


if __name__ == "__main__":
    main()
