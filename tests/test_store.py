"""Store: SQLite and the local PostgreSQL server, schema versions, batches, rollups, retention."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from domain.state import State, Transition
from kernel.errors import StoreError
from probes.result import ProbeResult, Series
from store import backends, records, schema
from store import db as st

T0 = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)  # 18:00 in Bogotá


def result(target: str, minutes: float, ok: bool = True, rtt: float = 0.001) -> ProbeResult:
    return ProbeResult(
        target,
        "icmp",
        T0 + timedelta(minutes=minutes),
        0.05,
        ok,
        "" if ok else "timeout",
        "" if ok else "0 of 3",
        {"rtt_avg_seconds": rtt, "loss_ratio": 0.0 if ok else 1.0},
        {},
        (Series("x", (("device", "eth0"),), 5.0),),
    )


def test_migrate_write_and_read_back(url: str) -> None:
    store = st.Store(url, "cdc")
    assert store.migrate() == st.SCHEMA_VERSION
    assert store.migrate() == st.SCHEMA_VERSION  # idempotent
    store.start_run("host", "1.0", T0.timestamp())
    batch = [result("gw", 0), result("web", 0, ok=False)]
    store.write_cycle(batch, [], T0.timestamp())
    rows = store.results_between(T0.timestamp() - 1, T0.timestamp() + 1)
    assert [(r.target, r.success, r.reason) for r in rows] == [("gw", True, ""), ("web", False, "timeout")]
    data = rows[0].data
    assert data["values"]["rtt_avg_seconds"] == 0.001
    assert data["series"] == [["x", {"device": "eth0"}, 5.0]]
    other = st.Store(url, "other-instance")
    assert other.count_results() == 0
    store.close()
    other.close()


def test_a_results_data_reads_back_as_every_value_it_held(url: str) -> None:
    # Floats at the edges of their printing (exponents, a float's last digits), text that spells
    # "null", labels of other scripts: what is read back is what the probe measured.
    values = {
        "tiny": 1.2e-06,
        "huge": 1e16,
        "odd": 0.1 + 0.2,
        "zero": -0.0,
        "big": 1234567.0,
        "max": 1.7976931348623157e308,
    }
    labels = {"server": "null/1.0 (Cartagena ñ ü 漢)", "quote": 'a "b" \\ c'}
    res = ProbeResult("web", "http", T0, 0.01, True, values=values, labels=labels,
                      series=(Series("x", (("device", "eth\n0"),), 5e-324),))  # fmt: skip
    store = st.Store(url, "cdc")
    store.migrate()
    store.write_cycle([res], [], T0.timestamp())
    (row,) = store.results_between(T0.timestamp() - 1, T0.timestamp() + 1)
    assert row.data == {"values": values, "labels": labels, "series": [["x", {"device": "eth\n0"}, 5e-324]]}
    assert str(row.data["values"]["zero"]) == "-0.0"
    store.close()


def test_a_value_that_is_not_a_number_is_refused_alone_and_the_write_goes_on(
    url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node_exporter's NaN gauge, an infinite ratio: JSON cannot hold them. They are refused
    # alone and named with their target; the result's other figures and the other results of the
    # write are stored (refusing the write made the daemon's writer retry it, and every later
    # batch wait behind it, for as long as the peer sent NaN).
    monkeypatch.setattr(records, "_TOLD", set())  # told once a process: each backend's run is told anew
    store = st.Store(url, "cdc")
    store.migrate()
    at = T0.timestamp()
    batch = [
        ProbeResult("node-1", "node", T0, 0.01, True, values={"load1": float("nan"), "cpus": 4.0},
                    series=(Series("fs_free", (("mount", "/"),), float("inf")), Series("fs_size", (), 9.0))),
        ProbeResult("node-2", "node", T0, 0.01, True, values={"load1": float("-inf")}),
        ProbeResult("web", "http", T0, 0.02, True, values={"status_code": 200.0}),
    ]  # fmt: skip
    with caplog.at_level("WARNING", logger="vigia"):
        store.write_cycle(batch, [], at)
    rows = {r.target: r.data for r in store.results_between(at - 1, at + 1)}
    assert rows == {
        "node-1": {"values": {"cpus": 4.0}, "series": [["fs_size", {}, 9.0]]},
        "node-2": {},
        "web": {"values": {"status_code": 200.0}},
    }
    told = [r.getMessage() for r in caplog.records]
    assert "node-1 (node): not stored, not finite numbers: load1, fs_free" in told
    assert "node-2 (node): not stored, not finite numbers: load1" in told
    store.close()


def test_outages_from_transitions(url: str) -> None:
    store = st.Store(url, "cdc")
    store.migrate()
    down = Transition(
        "gw",
        T0 + timedelta(minutes=3),
        State.UP,
        State.DOWN,
        "timeout",
        "0 of 3",
        outage_start=T0 + timedelta(minutes=1),
    )
    store.write_cycle([], [st.StateChange.of(down)], T0.timestamp())
    [open_] = store.open_outages()
    assert (open_.target, open_.kind, open_.started_at) == ("gw", "down", (T0 + timedelta(minutes=1)).timestamp())
    up = Transition("gw", T0 + timedelta(minutes=7), State.DOWN, State.UP, "", "")
    store.write_cycle([], [st.StateChange.of(up)], T0.timestamp())
    assert store.open_outages() == []
    [row] = store.outages_between(T0.timestamp(), (T0 + timedelta(hours=1)).timestamp())
    assert row.ended_at - row.started_at == 360
    assert store.load_states()["gw"].state == "up"
    store.close()


def test_newer_schema_is_refused(url: str) -> None:
    store = st.Store(url, "cdc")
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(schema.schema_version.update().values(version=st.SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match="newer than this vigia"):
        store.migrate()
    store.close()


def test_rollup_then_retention_keeps_hourly_figures(url: str) -> None:
    store = st.Store(url, "cdc")
    store.migrate()
    batch = [result("gw", m, ok=(m % 4 != 0), rtt=0.001 * (1 + m % 3)) for m in range(0, 120)]
    store.write_cycle(batch, [], T0.timestamp())
    now = (T0 + timedelta(days=40)).timestamp()
    assert store.rollup(now) == 24 * 40
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.hourly).order_by(schema.hourly.c.hour)).all()
        assert [(r.samples, r.successes) for r in rows[:2]] == [(60, 45), (60, 45)]
        vals = conn.execute(
            sa.select(schema.hourly_values)
            .where(schema.hourly_values.c.name == "rtt_avg_seconds")
            .order_by(schema.hourly_values.c.hour)
        ).all()
        assert vals[0].count == 60
        assert vals[0].min == pytest.approx(0.001) and vals[0].max == pytest.approx(0.003)
        assert vals[0].sum == pytest.approx(0.001 * 20 + 0.002 * 20 + 0.003 * 20)
    deleted = store.apply_retention(now, raw_retention=35 * 86400, rollup_retention=None)
    assert deleted == 120
    assert store.count_results() == 0
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.hourly)).scalar_one() == 2
    store.close()


def test_retention_never_deletes_what_is_not_rolled_up(url: str) -> None:
    store = st.Store(url, "cdc")
    store.migrate()
    store.write_cycle([result("gw", 0)], [], T0.timestamp())
    assert store.apply_retention((T0 + timedelta(days=90)).timestamp(), 35 * 86400, None) == 0
    assert store.count_results() == 1
    store.close()


def test_safe_url_masks_password() -> None:
    assert "s3creto" not in st.safe_url("postgresql://vigia:s3creto@db/vigia")


def test_sqlite_is_in_wal_mode(tmp_path) -> None:
    store = st.Store(f"sqlite:///{tmp_path}/v.db", "cdc")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    store.close()


def test_migrates_a_version_1_database(url: str) -> None:
    """A database made by the first release (schema 1) is upgraded in place on start, its rows kept."""
    engine = backends.engine_for(url)
    later = schema.V2_TABLES + schema.V3_TABLES + schema.V4_TABLES + schema.V5_TABLES + schema.V8_TABLES
    v1 = [t for t in schema.metadata.sorted_tables if t not in later]
    with engine.begin() as conn:
        schema.metadata.create_all(conn, tables=v1)
        conn.execute(schema.schema_version.insert().values(id=1, version=1, migrated_at=0.0))
        conn.execute(
            schema.results.insert().values(
                instance="cdc",
                target="gw",
                probe="icmp",
                ts=1.0,
                duration=0.1,
                success=True,
                reason="",
                message="",
                data="{}",
            )
        )
    engine.dispose()
    store = st.Store(url, "cdc")
    assert store.migrate() == st.SCHEMA_VERSION == 14
    assert store.schema_version() == 14
    assert store.count_results() == 1
    with store.engine.connect() as conn:
        assert sa.inspect(conn).has_table("zone_samples")
        assert sa.inspect(conn).has_table("operator_usage")
        assert sa.inspect(conn).has_table("month_snapshots")
        assert sa.inspect(conn).has_table("security_findings")
        assert sa.inspect(conn).has_table("agents") and sa.inspect(conn).has_table("agent_results")
        assert sa.inspect(conn).has_table("zone_refolds")
    store.close()


def test_a_batch_written_again_is_stored_once(url: str) -> None:
    """The writer retries a batch whose commit it never heard back about (the connection died
    after the database committed): results, zone samples and periods are there once."""
    store = st.Store(url, "cdc")
    store.migrate()
    start = (T0 + timedelta(minutes=1)).timestamp()
    batch = [result("gw", 0), result("gw", 1, ok=False)]
    changes = [st.StateChange("gw", "up", "down", start, start, "timeout")]
    samples = [st.ZoneSample("ZD-01", start, 60.0, "down", "failed", True, 1.0, None, "{}")]
    for _ in range(2):
        store.write_cycle(batch, changes, 0.0, samples)
    assert store.count_results() == 2
    assert len(store.outages_between(start - 1, start + 3600)) == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.zone_samples_t)).scalar_one() == 1
    store.close()


def test_a_cycle_of_many_changes_keeps_each_targets_periods(url: str) -> None:
    """A backhaul cut: 600 targets go down in one batch, and the writer, catching up, carries one
    of them down and back up (two changes of one target in one batch): every period is right."""
    store = st.Store(url, "cdc")
    store.migrate()
    t0 = T0.timestamp()
    changes = [st.StateChange(f"zd-{i:03d}", "unknown", "down", t0 + 60, t0 + 30, "timeout") for i in range(600)]
    changes.append(st.StateChange("zd-007", "down", "up", t0 + 300, t0 + 300))
    changes.append(st.StateChange("zd-008", "down", "maintenance", t0 + 400, t0 + 400))
    for _ in range(2):  # the second time, written again after a lost acknowledgement: nothing twice
        store.write_cycle([], changes, t0)
        periods = store.outages_between(t0, t0 + 3600)
        assert len(periods) == 601
        by = {(p.target, p.kind): p for p in periods}
        assert by[("zd-007", "down")].ended_at == t0 + 300
        assert by[("zd-008", "down")].ended_at == t0 + 400
        assert by[("zd-008", "maintenance")].ended_at is None
        assert {p.target for p in store.open_outages() if p.kind == "down"} == {f"zd-{i:03d}" for i in range(600)} - {
            "zd-007",
            "zd-008",
        }
        states = store.load_states()
        assert (states["zd-007"].state, states["zd-008"].state, states["zd-599"].state) == ("up", "maintenance", "down")
        assert states["zd-599"].since == t0 + 30
    store.close()


def test_version_5_copies_are_folded_by_the_upgrade(url: str) -> None:
    engine = backends.engine_for(url)
    with engine.begin() as conn:
        schema.metadata.create_all(conn)
        conn.execute(sa.text("DROP INDEX ix_probe_results_target_ts"))
        conn.execute(sa.text("CREATE INDEX ix_probe_results_target_ts ON probe_results (instance, target, ts)"))
        conn.execute(schema.schema_version.insert().values(id=1, version=5, migrated_at=0.0))
        row = {"instance": "cdc", "target": "gw", "probe": "icmp", "ts": 1.0, "duration": 0.1, "success": True,
               "reason": "", "message": "", "data": "{}"}  # fmt: skip
        conn.execute(schema.results.insert(), [row, row, {**row, "ts": 2.0}])
    engine.dispose()
    store = st.Store(url, "cdc")
    assert store.migrate() == st.SCHEMA_VERSION
    assert store.count_results() == 2
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(schema.results.insert().values(**row))
    store.close()


def test_zone_spans_follow_the_samples(url: str) -> None:
    """The month close reads when a zone was measured from spans the writes keep: back-to-back
    samples extend one span, a gap opens another, a batch written again changes nothing, and the
    spans equal those made from the samples afresh."""
    store = st.Store(url, "cdc")
    store.migrate()
    t0 = T0.timestamp()

    def sample(zone: str, minute: int) -> st.ZoneSample:
        return st.ZoneSample(zone, t0 + 60 * minute, 60.0, "up", "ok", True, 0.0, 0.002, "{}")

    for minute in [*range(0, 30), *range(45, 60)]:
        batch = [sample("ZD-01", minute), sample("ZD-02", minute)] if minute < 50 else [sample("ZD-01", minute)]
        store.write_cycle([], [], 0.0, batch)
        if minute == 10:
            store.write_cycle([], [], 0.0, batch)  # written again: a lost acknowledgement
    want = {
        "ZD-01": [(t0, t0 + 30 * 60), (t0 + 45 * 60, t0 + 60 * 60)],
        "ZD-02": [(t0, t0 + 30 * 60), (t0 + 45 * 60, t0 + 50 * 60)],
        "ZD-03": [],
    }
    assert store.reader().coverage(["ZD-01", "ZD-02", "ZD-03"], t0, t0 + 3600) == want
    assert store.rebuild_spans() == 4
    assert store.reader().coverage(["ZD-01", "ZD-02", "ZD-03"], t0, t0 + 3600) == want
    store.close()


def test_a_spilled_batch_reads_back_whole(tmp_path: pathlib.Path) -> None:
    """What a stop on a full disk writes to the spill file is what the next start stores: every
    field of every row, exactly; an unreadable file is set aside, never deleted."""
    from datetime import UTC, datetime

    from domain.findings import Finding
    from probes.result import ProbeResult, Series
    from store.records import StateChange, ZoneSample
    from store.spill import Batch, Spill

    result = ProbeResult("ZD-01:gateway", "icmp", datetime(2026, 12, 4, 17, 0, 0, 123456, tzinfo=UTC), 0.0123,
                         False, "timeout", "no answer ñ", {"rtt_avg_seconds": 0.001, "loss_ratio": 1.0},
                         {"tls_version": "TLSv1.3"},
                         (Series("fs_avail_bytes", (("mountpoint", "/"),), 5e9),))  # fmt: skip
    batch = Batch(
        [result],
        [StateChange("ZD-01", "up", "down", 1.5, 1.0, "gateway_timeout", "sin respuesta")],
        [ZoneSample("ZD-01", 2.0, 60.0, "down", "failed", True, 1.0, None, '{"gateway": false}')],
        [Finding("f1", "tls_certificate_expiry", "web", "d", "media", "A.8.24", "Cripto", "ev", 1.0, 2.0)],
    )
    spill = Spill(str(tmp_path / "pending.spill"), reserve_bytes=256 * 1024)
    assert spill.reserve() > 0 and (tmp_path / "pending.spill.reserve").exists()
    assert spill.save([batch, Batch([], [])])
    assert not (tmp_path / "pending.spill.reserve").exists()  # its room given to the spill
    assert spill.load() == [batch, Batch([], [])]
    spill.clear()
    assert spill.load() == []
    (tmp_path / "pending.spill").write_bytes(b"not a spill")
    assert spill.load() == []
    assert [p.name.startswith("pending.spill.unreadable-") for p in tmp_path.iterdir()] == [True]


def test_results_neither_stored_nor_spilled_are_counted_lost(tmp_path: pathlib.Path) -> None:
    """The store failing at the stop and no room for the spill either (its path not writable): the
    writer counts every held result as lost, which fails the daemon's stop (exit 1), never quietly."""
    from datetime import UTC, datetime

    from monitor.runtime.stats import DaemonStats
    from monitor.runtime.writer import StoreWriter
    from probes.result import ProbeResult
    from store.db import Store
    from store.spill import Batch

    store = Store(f"sqlite:///{tmp_path}/v.db", "cdc")
    store.migrate()
    stats = DaemonStats(version="test")
    writer = StoreWriter(store, stats, str(tmp_path / "no-such-dir"))
    writer.start()
    store.close()
    store.engine.dispose()
    (tmp_path / "v.db").unlink()
    (tmp_path / "v.db").mkdir()  # the store's file is now a directory: every write fails
    now = datetime.now(UTC)
    writer.submit(Batch([ProbeResult(f"t{i}", "tcp", now, 0.1, False, "refused") for i in range(7)], []))
    writer.stop()
    assert writer.lost == 7 and stats.store_dropped == 7 and stats.store_results_written == 0


def test_a_database_error_leaves_the_store_as_a_store_error(url: str) -> None:
    """The driver's error (here a table gone under the store) crosses the store's boundary once,
    as StoreError naming what failed with the cause chained: never a SQLAlchemy exception."""
    store = st.Store(url, "cdc")
    store.migrate()
    try:
        store.write_cycle([result("portal", 1)], [], T0.timestamp() + 60)
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {schema.results.name}"))
        with pytest.raises(StoreError, match=r"^cannot read the store: ") as read:
            store.results_between(T0.timestamp(), T0.timestamp() + 3600)
        assert isinstance(read.value.__cause__, sa.exc.SQLAlchemyError)
        with pytest.raises(StoreError, match=r"^cannot write to the store: "):
            store.write_cycle([result("portal", 2)], [], T0.timestamp() + 120)
    finally:
        store.close()


def test_a_version_11_database_gains_the_central_verdict_column_its_rows_kept(url: str) -> None:
    """Schema 12 adds zone_samples.central by ALTER TABLE (partitions included on PostgreSQL)."""
    store = st.Store(url, "cdc")
    store.migrate()
    store.write_cycle([], [], 10.0, [st.ZoneSample("ZD-01", 10.0, 60.0, "up", "ok", True, None, None, "{}")])
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_zone_samples_path"))  # schema 14's, on the column
        conn.execute(sa.text("ALTER TABLE zone_samples DROP COLUMN central"))
        conn.execute(sa.text("UPDATE vigia_schema SET version = 11"))
    store.close()
    again = st.Store(url, "cdc")
    assert again.migrate() == 14
    with again.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT zone, verdict, central FROM zone_samples")).all() == [("ZD-01", "ok", None)]
    again.close()


def test_a_result_that_cannot_be_encoded_is_refused_alone(url: str, caplog: pytest.LogCaptureFixture) -> None:
    # A value of a type JSON has no word for (a probe's bug, a library's new return type): that
    # result is refused and named; the write's other results are stored.
    store = st.Store(url, "cdc")
    store.migrate()
    odd = ProbeResult("snmp-ap-3", "snmp", T0, 0.01, True, values={"v": 1j})  # type: ignore[dict-item]
    good = ProbeResult("web", "http", T0, 0.02, True, values={"status_code": 200.0})
    with caplog.at_level("ERROR"):
        store.write_cycle([odd, good], [], T0.timestamp())
    assert [r.target for r in store.results_between(T0.timestamp() - 1, T0.timestamp() + 1)] == ["web"]
    assert any(m.startswith("snmp-ap-3 (snmp): result at ") and "not stored" in m for m in caplog.messages)
    store.close()


def test_a_message_quoting_a_devices_nul_bytes_is_stored_with_its_outage(url: str) -> None:
    # A node_exporter port answering binary garbage: the probe's message quotes it, NUL bytes and
    # all. PostgreSQL's text refuses NUL: the whole write failed and the daemon's writer retried it
    # for ever, every later cycle behind it. Stored, NUL as U+FFFD, alike on both stores.
    import time as clock

    from probes.node import NodeSettings
    from tests.probing import on_engine
    from tests.servers import http_server

    node_probe = on_engine("node")
    with http_server({"/metrics": lambda _h: (200, {}, b"\x00\x00garbage\n")}) as srv:
        res = node_probe("srv-9", NodeSettings(url=srv.url("/metrics")), deadline=clock.monotonic() + 2)
    assert not res.success and "\x00" in res.message, res
    store = st.Store(url, "cdc")
    store.migrate()
    down = Transition("srv-9", T0, State.UP, State.DOWN, res.reason, res.message)
    other = ProbeResult("web", "http", res.started_at, 0.01, True, values={"status_code": 200.0})
    store.write_cycle([res, other], [st.StateChange.of(down)], T0.timestamp())
    at = res.started_at.timestamp()
    got = {row.target: row.message for row in store.results_between(at - 1, at + 1)}
    assert got == {"srv-9": res.message.replace("\x00", "\ufffd"), "web": ""}
    [outage] = store.open_outages()
    with store.engine.connect() as conn:
        message = conn.execute(sa.select(schema.outages.c.message)).scalar_one()
    assert outage.target == "srv-9" and message == res.message.replace("\x00", "\ufffd")
    store.close()
