"""RADIUS accounting usage per zone, on FreeRADIUS's stock schema in SQLite, PostgreSQL and MariaDB.

Every figure is checked against the same sessions counted independently in Python.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from probes.usage.radius import Usage, ZoneMatch
from probes.usage.radius_reader import RadiusReader
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


def want_active(sessions: list[Session]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in sessions:
        z = zone_of(s)
        if s.stop is None and z:
            out[z] = out.get(z, 0) + 1
    return out


def want_peak(sessions: list[Session], lo: datetime, hi: datetime) -> dict[str, int]:
    out = {}
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
        if events:
            out[z] = peak
    return out


def test_active_sessions_and_peak(filled: tuple[str, list[Session]]) -> None:
    url, sessions = filled
    reader = RadiusReader(url, ZONES, stale_after=40 * 86400)
    try:
        now = START + timedelta(days=31)
        assert reader.active(now) == want_active(sessions)
        lo, hi = START + timedelta(days=10), START + timedelta(days=11)
        assert reader.peak_concurrent(lo, hi) == want_peak(sessions, lo, hi)
        assert RadiusReader(url, ZONES, stale_after=60).active(now) == {}  # every open session is stale by then
    finally:
        reader.close()


def test_today_is_read_incrementally(filled: tuple[str, list[Session]]) -> None:
    """After the day's first read, a run reads the rows past the watermark and the open sessions only,
    yet every figure equals a full recount: new sessions, interim updates and stops all land."""
    from monitor.runtime.usage import DayTally

    url, sessions = filled
    day0, day1 = START + timedelta(days=10), START + timedelta(days=11)
    reader = RadiusReader(url, ZONES)
    fetched: list[int] = []
    real_fetch = reader._fetch

    def counting_fetch(q, highest=0):  # type: ignore[no-untyped-def]
        rows, top = real_fetch(q, highest)
        fetched.append(len(rows))
        return rows, top

    try:
        tally = DayTally(reader, day0, day1)
        tally.LOOKBACK = 5
        assert tally.usage(reader) == reader.usage(day0, day1)

        # The accounting world moves on: two open sessions get news (an interim update, a stop) ...
        engine = sa.create_engine(url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)  # SQLite's int(12) widths
            table = sa.Table("radacct", sa.MetaData(), autoload_with=engine)
        c = {col.name.lower(): col for col in table.columns}
        open_today = [
            i for i, s in enumerate(sessions) if s.stop is None and s.start < day1 and zone_of(s) in ("ZD-01", "ZD-02")
        ][:2]
        assert len(open_today) == 2
        updated = list(sessions)
        for n, i in enumerate(open_today):
            s = sessions[i]
            news = {"seconds": 1800, "octets_in": s.octets_in + 111, "octets_out": s.octets_out + 222}
            stop = s.start + timedelta(seconds=1800) if n else None
            updated[i] = replace(s, stop=stop, **news)
            values = {
                c["acctsessiontime"]: 1800,
                c["acctinputoctets"]: news["octets_in"],
                c["acctoutputoctets"]: news["octets_out"],
            }
            aware = bool(getattr(c["acctstarttime"].type, "timezone", False))
            if stop is not None:
                values[c["acctstoptime"]] = stop if aware else stop.replace(tzinfo=None)
            with engine.begin() as conn:
                conn.execute(table.update().where(c["acctsessionid"] == f"s{i:08x}").values(values))
        engine.dispose()
        # ... and new sessions begin, one of a device already seen today.
        seen = next(s.calling for s in sessions if day0 <= s.start < day1 and zone_of(s) == "ZD-01")
        new = [
            Session("10.213.1.2", "x", seen, day0 + timedelta(hours=20), day0 + timedelta(hours=21), 3600, 10, 20),
            Session("10.213.2.2", "x", "02-00-00-FFFF", day0 + timedelta(hours=22), None, 0, 30, 40),
            Session("10.213.9.9", "x", "02-00-00-FFFE", day0 + timedelta(hours=22), None, 0, 1, 1),  # not ours
        ]
        insert(url, new, first=len(sessions))
        updated += new

        reader._fetch = counting_fetch  # type: ignore[method-assign]
        known_open = sum(1 for r in tally.rows.values() if r.stop is None)
        tally.advance(reader)
        # Rows read: the lookback and the new ones past the watermark, then the open sessions by id.
        assert sum(fetched) <= tally.LOOKBACK + len(new) + known_open
        assert sum(fetched) < sum(1 for s in sessions if s.start < day1) / 10

        want = expected(updated, day0, day1)
        got = tally.usage(reader)
        assert {
            z: (u.sessions, u.unique_users, u.session_seconds, u.input_octets, u.output_octets) for z, u in got.items()
        } == want
        assert tally.peak(day1) == want_peak(updated, day0, day1)
        # "Now" is the day's end: the sessions begun later in the synthetic month do not exist yet.
        assert tally.active(day1, 40 * 86400) == want_active([s for s in updated if s.start < day1])

        # Nothing new: the distinct count of today is not asked again.
        asked: list[object] = []
        real_usage = reader.usage
        reader.usage = lambda *a: asked.append(a) or real_usage(*a)  # type: ignore[method-assign]
        tally.advance(reader)
        assert tally.usage(reader) == got
        assert asked == []

        # A backlog larger than a run reads is caught up over the next runs, and says so meanwhile.
        more = [replace(new[0], start=day0 + timedelta(hours=23, minutes=k)) for k in range(5)]
        insert(url, more, first=len(updated))
        tally.LOOKBACK, tally.BATCH, tally.MAX_BATCHES = 0, 2, 1
        tally.advance(reader)
        assert tally.behind
        for _ in range(3):
            tally.advance(reader)
        assert not tally.behind
        assert tally.usage(reader)["ZD-01"].sessions == got["ZD-01"].sessions + 5
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

    from kernel.month import day_bounds
    from monitor.runtime.usage import month_bounds
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
            assert daemon.runtime.radius_job()
            daemon.exposition.refresh()  # as the radius job's row does once the read is in
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


def test_a_day_closes_with_its_final_figures(tmp_path: Path) -> None:
    """A session begun before midnight that stops after it: the first run of the new day writes the old day
    again with the stop's figures, then counts the new day from its own sessions."""
    from config import parse
    from monitor.runtime.usage import RadiusUsage

    tz = __import__("zoneinfo").ZoneInfo("America/Bogota")
    day0 = datetime(2025, 3, 10, tzinfo=tz)
    late = Session("10.213.1.2", "x", "02-00-00-0001", day0 + timedelta(hours=23, minutes=30), None, 600, 100, 200)
    with accounting_db("sqlite", tmp_path) as url:
        insert(url, [late])
        (tmp_path / "radius-url").write_text(url)
        config = parse(
            "vigia.yml",
            f"timezone: America/Bogota\nradius: {{url: {{file: {tmp_path}/radius-url}}}}\n"
            "zones:\n  - {id: ZD-01, name: Aduana, lat: 10.4, lon: -75.5, radius: {nas_ip_addresses: [10.213.1.2]}}\n",
            state_dir=str(tmp_path),
        )
        assert config.radius is not None
        usage = RadiusUsage(config.radius, config.zones, tz)
        try:
            got = usage.run(day0 + timedelta(hours=23, minutes=50))
            assert got is not None
            (before,) = got[0]
            assert (before.period, before.usage, before.peak) == ("2025-03-10", Usage(1, 1, 600.0, 100.0, 200.0), 1)
            with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
                db.execute(
                    "update radacct set acctstoptime=?, acctsessiontime=3600,"
                    " acctinputoctets=1000, acctoutputoctets=2000",
                    (int((day0 + timedelta(days=1, minutes=30)).timestamp()),),
                )
            got = usage.run(day0 + timedelta(days=1, minutes=40))
            assert got is not None
            closed, today = got[0]
            assert (closed.period, closed.usage) == ("2025-03-10", Usage(1, 1, 3600.0, 1000.0, 2000.0))
            # The session began yesterday: it counts there, yet it ran past midnight into today's peak.
            assert (today.period, today.usage, today.peak) == ("2025-03-11", None, 1)
            assert usage.snapshot.active == {}
            assert [m.period for m in got[1]] == ["2025-03"]
        finally:
            usage.close()
