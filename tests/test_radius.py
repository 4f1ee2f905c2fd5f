"""RADIUS accounting usage per zone, on FreeRADIUS's stock schema in SQLite, PostgreSQL and MariaDB.

Every figure is checked against the same sessions counted independently in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probes.radius import RadiusReader, Usage, ZoneMatch
from tests.accounting import Session, accounting_db, insert, month_of_sessions

START = datetime(2025, 1, 1, 5, 0, tzinfo=UTC)  # 1 January 00:00 in Bogotá
ZONES = [
    ZoneMatch("ZD-01", ("10.213.1.2",)),
    ZoneMatch("ZD-02", ("10.213.2.2", "10.213.3.2")),
    ZoneMatch("ZD-04", (), r"^AA-BB-CC-00-00-0[12]:ZonaDigital-ZD04$"),
]


def zone_of(s: Session) -> str | None:
    if s.nas == "10.213.1.2":
        return "ZD-01"
    if s.nas in ("10.213.2.2", "10.213.3.2"):
        return "ZD-02"
    if s.called.startswith(("AA-BB-CC-00-00-01", "AA-BB-CC-00-00-02")):
        return "ZD-04"
    return None


def expected(sessions: list[Session], lo: datetime, hi: datetime) -> dict[str, tuple[int, int, float, float, float]]:
    out: dict[str, list] = {}
    for s in sessions:
        z = zone_of(s)
        if z is None or not lo <= s.start < hi:
            continue
        e = out.setdefault(z, [0, set(), 0.0, 0.0, 0.0])
        e[0] += 1
        e[1].add(s.calling)
        e[2] += s.seconds
        e[3] += s.octets_in
        e[4] += s.octets_out
    return {z: (e[0], len(e[1]), e[2], e[3], e[4]) for z, e in out.items()}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[Session]]]:
    sessions = month_of_sessions(3000, START)
    with accounting_db(request.param, tmp_path) as url:
        insert(url, sessions)
        yield url, sessions


def test_usage_per_zone_and_period(filled: tuple[str, list[Session]]) -> None:
    url, sessions = filled
    reader = RadiusReader(url, ZONES)
    try:
        for lo, hi in ((START, START + timedelta(days=30)), (START + timedelta(days=3), START + timedelta(days=4))):
            got = reader.usage(lo, hi)
            want = expected(sessions, lo, hi)
            assert {
                z: (u.sessions, u.unique_users, u.session_seconds, u.input_octets, u.output_octets)
                for z, u in got.items()
            } == want
        assert set(want) == {"ZD-01", "ZD-02", "ZD-04"}
    finally:
        reader.close()


def test_active_sessions_and_peak(filled: tuple[str, list[Session]]) -> None:
    url, sessions = filled
    reader = RadiusReader(url, ZONES, stale_after=40 * 86400)
    try:
        now = START + timedelta(days=31)
        want_active: dict[str, int] = {}
        for s in sessions:
            if s.stop is None and zone_of(s):
                want_active[zone_of(s)] = want_active.get(zone_of(s), 0) + 1  # type: ignore[index]
        assert reader.active(now) == want_active
        lo, hi = START + timedelta(days=10), START + timedelta(days=11)
        want_peak = {}
        for z in ("ZD-01", "ZD-02", "ZD-04"):
            events = []
            for s in sessions:
                if zone_of(s) != z or s.start >= hi or (s.stop is not None and s.stop <= lo):
                    continue
                events.append((max(s.start, lo), 1))
                if s.stop is not None:
                    events.append((s.stop, -1))
            level = peak = 0
            for _, step in sorted(events):
                level += step
                peak = max(peak, level)
            want_peak[z] = peak
        assert reader.peak_concurrent(lo, hi) == want_peak
        assert RadiusReader(url, ZONES, stale_after=60).active(now) == {}  # every open session is stale by then
    finally:
        reader.close()


def test_no_identifier_leaves_the_database(filled: tuple[str, list[Session]]) -> None:
    url, sessions = filled
    reader = RadiusReader(url, ZONES)
    try:
        text = repr(reader.usage(START, START + timedelta(days=30))) + repr(reader.active(START))
    finally:
        reader.close()
    assert not any(s.calling in text for s in sessions[:200])


def test_daemon_stores_and_exports_zone_usage(tmp_path: Path) -> None:
    """The daemon's RADIUS job: today's and this month's figures stored per zone and on /metrics."""
    import sqlite3

    from monitor.usage import day_bounds, month_bounds
    from tests.vigiaproc import daemon_in_process

    tz = __import__("zoneinfo").ZoneInfo("America/Bogota")
    now = datetime.now(UTC)
    m0, _ = month_bounds(now, tz)
    d0, _ = day_bounds(now, tz)
    sessions = [s for s in month_of_sessions(4000, m0.astimezone(UTC)) if s.start < now]
    with accounting_db("sqlite", tmp_path) as url:
        insert(url, sessions)
        (tmp_path / "radius-url").write_text(url + "\n")
        config = (
            f"radius: {{url: {{file: {tmp_path}/radius-url}}, interval: 30s, stale_after: 60d}}\n"
            "zones:\n"
            "  - {id: ZD-01, name: Aduana, lat: 10.4, lon: -75.5, radius: {nas_ip_addresses: [10.213.1.2]}}\n"
            "  - {id: ZD-02, name: Centenario, lat: 10.4, lon: -75.5,\n"
            "     radius: {nas_ip_addresses: [10.213.2.2, 10.213.3.2]}}\n"
            "  - {id: ZD-04, name: Bocagrande, lat: 10.4, lon: -75.5,\n"
            "     radius: {called_station_id: '^AA-BB-CC-00-00-0[12]:ZonaDigital-ZD04$'}}\n"
            "  - {id: ZD-05, name: Sin accounting, lat: 10.4, lon: -75.5, radius: {nas_ip_addresses: [10.213.5.2]}}\n"
        )
        with daemon_in_process(config, tmp_path) as daemon:
            daemon._radius_job()
            daemon.writer.stop()  # flush the queued store job
            body = daemon.exposition.body().decode()
    month_want = expected(sessions, m0.astimezone(UTC), now + timedelta(seconds=1))
    day_want = expected(sessions, d0.astimezone(UTC), now + timedelta(seconds=1))
    for zone, (n, users, *_rest) in month_want.items():
        assert f'vigia_zone_unique_users{{period="month",zone="{zone}"}} {float(users)}' in body
        assert f'vigia_zone_sessions{{period="month",zone="{zone}"}} {float(n)}' in body
    db = sqlite3.connect(tmp_path / "state" / "vigia.db")
    monthly = {
        r[0]: r[1:]
        for r in db.execute(
            "select zone, sessions, unique_users, session_seconds, input_octets, output_octets from usage_monthly "
            "where source='radius'"
        )
    }
    assert monthly == {z: month_want.get(z, (0, 0, 0.0, 0.0, 0.0)) for z in ("ZD-01", "ZD-02", "ZD-04", "ZD-05")}
    daily = {
        r[0]: r[1:] for r in db.execute("select zone, sessions, unique_users from usage_daily where source='radius'")
    }
    assert daily == {z: day_want.get(z, (0, 0))[:2] for z in ("ZD-01", "ZD-02", "ZD-04", "ZD-05")}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_rows_written_by_a_real_freeradius(kind: str, tmp_path: Path) -> None:
    """radclient -> FreeRADIUS (rlm_sql, stock queries) -> radacct -> vigia's figures."""
    from tests.freeradius import account, freeradius

    t = int(START.timestamp())
    with accounting_db(kind, tmp_path) as url, freeradius(tmp_path, url) as server:

        def session(sid: str, nas: str, mac: str, start: int, stop: int | None, seconds: int, rx: int, tx: int):
            common = {
                "Acct_Session_Id": sid,
                "NAS_IP_Address": nas,
                "Calling_Station_Id": mac,
                "User_Name": mac,
                "Called_Station_Id": "AA-BB-CC-00-00-09:ZonaDigital",
            }
            account(server, Acct_Status_Type="Start", Event_Timestamp=start, **common)
            account(
                server,
                Acct_Status_Type="Interim-Update",
                Event_Timestamp=start + seconds // 2,
                Acct_Session_Time=seconds // 2,
                Acct_Input_Octets=rx // 2,
                Acct_Output_Octets=tx // 2,
                **common,
            )
            if stop is not None:
                account(
                    server,
                    Acct_Status_Type="Stop",
                    Event_Timestamp=stop,
                    Acct_Session_Time=seconds,
                    Acct_Input_Octets=rx,
                    Acct_Output_Octets=tx,
                    **common,
                )

        session("a1", "10.213.1.2", "02-00-00-00-00-01", t + 600, t + 1200, 600, 1_000, 5_000)
        session("a2", "10.213.1.2", "02-00-00-00-00-02", t + 900, t + 2700, 1800, 2_000, 9_000)
        session("a3", "10.213.1.2", "02-00-00-00-00-01", t + 3600, t + 4200, 600, 500, 700)  # same device again
        session("b1", "10.213.2.2", "02-00-00-00-00-03", t + 1000, None, 400, 300, 800)  # still open
        session("z1", "10.213.9.9", "02-00-00-00-00-04", t + 1000, t + 1100, 100, 1, 1)  # not a zone of ours
        reader = RadiusReader(url, ZONES, stale_after=10**9)
        try:
            got = reader.usage(START, START + timedelta(days=1))
            active = reader.active(START + timedelta(hours=2))
            peak = reader.peak_concurrent(START, START + timedelta(days=1))
        finally:
            reader.close()
    assert got["ZD-01"] == Usage(3, 2, 3000.0, 3500.0, 14700.0)
    # The open session's figures are those of its last interim update.
    assert got["ZD-02"] == Usage(1, 1, 200.0, 150.0, 400.0)
    assert set(got) == {"ZD-01", "ZD-02"}
    assert active == {"ZD-02": 1}
    assert peak == {"ZD-01": 2, "ZD-02": 1}
