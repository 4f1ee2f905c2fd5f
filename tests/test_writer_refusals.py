"""The daemon's store writer when the database refuses a write for what it holds (a value it cannot
take, a constraint it breaks), on SQLite and PostgreSQL: no retry mends that, so the write is made
again in parts, the items refused are set aside (logged, counted, kept in a file beside the store)
and the rest is stored; the batches behind it are not held back.

The refusals are real: a constraint the test adds to the database (on PostgreSQL a CHECK, on
SQLite a trigger that aborts), as a DBA's rule or a value a future probe sends would be.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.runtime.stats import DaemonStats
from monitor.runtime.writer import REFUSED_FILE, StoreWriter
from probes.result import ProbeResult
from store.db import Store
from store.records import StateChange
from store.spill import Batch

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def refuse(store: Store, table: str, target: str) -> None:
    """Make the database refuse rows of ``table`` for ``target``."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT refuse_{table} CHECK (target <> '{target}')"))
        else:
            conn.execute(sa.text(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN NEW.target = "
                                 f"'{target}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))  # fmt: skip


def result(target: str, minute: int) -> ProbeResult:
    return ProbeResult(target, "tcp", T0 + timedelta(minutes=minute), 0.01, True, values={"connect_seconds": 0.01})


def test_items_the_database_refuses_are_set_aside_and_the_rest_stored(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(url, "cdc")
    store.migrate()
    refuse(store, "probe_results", "poison")
    refuse(store, "outages", "poison-gw")
    stats = DaemonStats(version="test")
    writer = StoreWriter(store, stats, str(tmp_path))
    writer.start()
    try:
        at = T0.timestamp()
        first = Batch([result(f"web-{i}", 0) for i in range(20)] + [result("poison", 0), result("web-20", 0)],
                      [StateChange("gw", "up", "down", at, at, "timeout", "0 of 3"),
                       StateChange("poison-gw", "up", "down", at, at, "timeout", "0 of 3")])  # fmt: skip
        with caplog.at_level("ERROR"):
            writer.submit(first)
            writer.submit(Batch([result("web-0", 1), result("poison", 1)], []))  # the next cycle
            end = time.monotonic() + 20
            while (stats.store_writes < 2 or stats.store_pending) and time.monotonic() < end:
                time.sleep(0.05)
    finally:
        writer.stop()
    assert stats.store_writes == 2 and stats.store_pending == 0, stats
    assert stats.store_refused == 3  # two results and one state change
    assert stats.store_results_written == 22 and stats.store_errors == 0
    stored = store.results_between(at - 1, at + 3600)
    assert sorted((r.target, r.ts - at) for r in stored) == sorted(
        [(f"web-{i}", 0.0) for i in range(21)] + [("web-0", 60.0)]
    )
    assert [(o.target, o.kind) for o in store.open_outages()] == [("gw", "down")]
    kept = [json.loads(line) for line in (tmp_path / REFUSED_FILE).read_text().splitlines()]
    assert sorted(k["results"][0]["target"] if k["results"] else k["changes"][0]["subject"] for k in kept) == [
        "poison", "poison", "poison-gw"]  # fmt: skip
    assert all(k["why"] and k["refused_at"] > 0 for k in kept)
    told = [m for m in caplog.messages if m.startswith("the store refuses")]
    assert len(told) == 3 and any("poison's tcp result of 2025-03-01T12:00:00+00:00" in m for m in told), told
    assert any("poison-gw's change up -> down at 2025-03-01T12:00:00+00:00" in m for m in told), told
    store.close()


def fail_once(store: Store, target: str) -> None:
    """Make the first insert of a result for ``target`` fail for a reason a retry mends (on
    PostgreSQL a serialization failure, on SQLite a function that raises), the later ones pass."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("CREATE SEQUENCE flaky_tries"))
            conn.execute(sa.text(
                "CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF nextval('flaky_tries') = 1 THEN RAISE EXCEPTION 'not now' USING ERRCODE = '40001'; END IF; "
                "RETURN NEW; END $$"))  # fmt: skip
            conn.execute(sa.text(f"CREATE TRIGGER flaky BEFORE INSERT ON probe_results FOR EACH ROW "
                                 f"WHEN (NEW.target = '{target}') EXECUTE FUNCTION flaky()"))  # fmt: skip
            return
    tries = [0]

    def flaky() -> int:
        tries[0] += 1
        if tries[0] == 1:
            raise RuntimeError("not now")
        return 0

    sa.event.listen(store.engine, "connect", lambda dbapi, _record: dbapi.create_function("flaky", 0, flaky))
    store.engine.dispose()  # the pooled connections were made without it
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TRIGGER flaky BEFORE INSERT ON probe_results WHEN NEW.target = '{target}' "
                             "BEGIN SELECT flaky(); END"))  # fmt: skip


def test_a_failure_of_another_kind_while_isolating_leaves_the_rest_to_retry(url: str, tmp_path: Path) -> None:
    # The refused write is being written in parts when the database fails for a reason a retry
    # mends: what was stored stays stored, the refused item stays set aside, and the parts not yet
    # written wait at the head of the queue, stored at the next try; nothing twice, nothing lost.
    store = Store(url, "cdc")
    store.migrate()
    refuse(store, "probe_results", "poison")
    fail_once(store, "flaky")
    stats = DaemonStats(version="test")
    writer = StoreWriter(store, stats, str(tmp_path))
    writer.start()
    try:
        writer.submit(Batch([result("a", 0), result("poison", 0), result("flaky", 0), result("b", 0)], []))
        end = time.monotonic() + 30  # the writer retries a failed batch when idle, every 5 s
        while (stats.store_writes < 1 or stats.store_pending) and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        writer.stop()
    assert (stats.store_writes, stats.store_pending, stats.store_refused, stats.store_errors) == (1, 0, 1, 1), stats
    assert stats.store_results_written == 3
    at = T0.timestamp()
    assert sorted(r.target for r in store.results_between(at - 1, at + 1)) == ["a", "b", "flaky"]
    assert len((tmp_path / REFUSED_FILE).read_text().splitlines()) == 1
    store.close()


def test_a_rule_refusing_most_of_a_write_costs_a_few_log_lines_and_a_bounded_file(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rule a DBA adds refuses every result of a kind: 750 of a cycle's 1,000 are refused, and the
    # next cycle's too. Each is counted and the rest stored, as for one; the log names the first ten
    # of a write and the rest in one line (not 750 lines a cycle), and the refused file stops
    # growing at its cap (that rule, left alone, would fill the disk), saying so.
    store = Store(url, "cdc")
    store.migrate()
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(sa.text("ALTER TABLE probe_results ADD CONSTRAINT refuse_bad CHECK (target NOT LIKE 'bad-%')"))
        else:
            conn.execute(sa.text("CREATE TRIGGER refuse_bad BEFORE INSERT ON probe_results WHEN NEW.target LIKE "
                                 "'bad-%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))  # fmt: skip
    monkeypatch.setattr("monitor.runtime.writer.REFUSED_KEPT_BYTES", 100_000)
    stats = DaemonStats(version="test")
    writer = StoreWriter(store, stats, str(tmp_path))
    writer.start()
    try:
        with caplog.at_level("ERROR"):
            for minute in range(2):
                named = [f"{'good' if i % 4 == 0 else 'bad'}-{i}" for i in range(1000)]
                writer.submit(Batch([result(name, minute) for name in named], []))
            end = time.monotonic() + 120
            while (stats.store_writes < 2 or stats.store_pending) and time.monotonic() < end:
                time.sleep(0.05)
    finally:
        writer.stop()
    assert (stats.store_writes, stats.store_pending, stats.store_errors) == (2, 0, 0), stats
    assert (stats.store_refused, stats.store_results_written) == (1500, 500)
    at = T0.timestamp()
    assert sorted(r.target for r in store.results_between(at - 1, at + 3600)) == sorted(
        f"good-{i}" for i in range(0, 1000, 4) for _minute in range(2)
    )
    told = [m for m in caplog.messages if m.startswith("the store refuses")]
    assert len(told) == 2 * 11, told[:3]
    assert "the store refuses 740 more items of that write" in told[10], told[10]
    kept = (tmp_path / REFUSED_FILE).read_bytes()
    assert 0 < len(kept) <= 100_000 and kept.endswith(b"\n")
    lines = [json.loads(line) for line in kept.splitlines()]
    assert {k["results"][0]["target"][:4] for k in lines} == {"bad-"} and len(lines) < 1500
    assert "the rest not" in told[10] and "reached its cap of 0.0953674 MiB" in told[-1], told[-1]
    store.close()


def test_refused_items_meeting_a_full_disk_are_counted_and_said_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The state folder's disk is full when the store refuses an item: it cannot be kept in the
    # refused file. It is counted and the log says it could not be kept and why; the rest of the
    # write and the next cycle are stored all the same (the store lives on another disk).
    from tests.test_disk_full import fill, small_disk

    with small_disk(tmp_path / "state") as state:
        store = Store(f"sqlite:///{tmp_path}/vigia.db", "cdc")
        store.migrate()
        refuse(store, "probe_results", "poison")
        fill(state)
        stats = DaemonStats(version="test")
        writer = StoreWriter(store, stats, str(state))
        writer.start()
        try:
            with caplog.at_level("ERROR"):
                writer.submit(Batch([result("a", 0), result("poison", 0), result("b", 0)], []))
                writer.submit(Batch([result("a", 1)], []))
                end = time.monotonic() + 30
                while (stats.store_writes < 2 or stats.store_pending) and time.monotonic() < end:
                    time.sleep(0.05)
        finally:
            writer.stop()
        assert (stats.store_writes, stats.store_pending, stats.store_refused, stats.store_results_written) == (
            2, 0, 1, 3), stats  # fmt: skip
        [told] = [m for m in caplog.messages if m.startswith("the store refuses")]
        assert "poison's tcp result" in told and "cannot be kept in" in told and "No space left" in told, told
        at = T0.timestamp()
        assert sorted(r.target for r in store.results_between(at - 1, at + 3600)) == ["a", "a", "b"]
        store.close()
