"""Raw results folded into hourly chunks: exact round trip, reads unchanged, a fraction of the bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from store import chunks, schema
from store import db as sdb
from tests import pgdb
from tests.test_store import T0, result

finite = st.floats(allow_nan=False, allow_infinity=False)
rows = st.lists(
    st.builds(
        chunks.RawRow,
        target=st.just("zd-01"),
        probe=st.sampled_from(["icmp", "http"]),
        ts=finite,
        duration=finite,
        success=st.booleans(),
        reason=st.sampled_from(["", "timeout", "refused"]),
        message=st.text(max_size=20),
        data=st.fixed_dictionaries(
            {},
            optional={
                "values": st.dictionaries(st.sampled_from(["rtt_avg_seconds", "loss_ratio", "octets"]), finite),
                "labels": st.dictionaries(st.sampled_from(["server"]), st.text(max_size=10)),
                "series": st.lists(st.tuples(st.just("ifHCInOctets"), st.just({"if": "eth0"}), finite), max_size=2),
            },
        ),
    ),
    min_size=1,
    max_size=70,
)


def normal(row: chunks.RawRow) -> chunks.RawRow:
    """What a round trip keeps: an empty values map is no values map; series as JSON lists."""
    data = {k: v for k, v in row.data.items() if v != {} or k != "values"}
    if "series" in data:
        data["series"] = [list(s) for s in data["series"]]
    return chunks.RawRow(row.target, row.probe, row.ts, row.duration, row.success, row.reason, row.message, data)


@settings(max_examples=150, deadline=None)
@given(rows)
def test_a_chunk_decodes_to_exactly_what_was_written(written: list[chunks.RawRow]) -> None:
    assert chunks.decode("zd-01", chunks.encode(written)) == [normal(r) for r in written]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[sdb.Store]:
    if request.param == "sqlite":
        s = sdb.Store(f"sqlite:///{tmp_path}/vigia.db", "cdc")
        s.migrate()
        yield s
        s.close()
        return
    with pgdb.database() as url:
        s = sdb.Store(url, "cdc")
        s.migrate()
        yield s
        s.close()


def test_a_rolled_up_hour_is_read_back_from_its_chunks_exactly(store: sdb.Store) -> None:
    batch = [
        result(t, m + i / 10, ok=(m % 7 != 0), rtt=0.0004 + (m * 37 % 11) * 1e-5)
        for m in range(150)
        for i, t in enumerate(("gw", "web"))
    ]
    store.write_cycle(batch, [], T0.timestamp())
    start, end = T0.timestamp(), (T0 + timedelta(minutes=150)).timestamp()
    before = store.results_between(start, end)
    assert len(before) == 300
    store.rollup((T0 + timedelta(hours=2, minutes=10)).timestamp())  # 23:00 and 00:00 done; 01:00 is open
    with store.engine.connect() as conn:
        raw_left = conn.execute(sa.select(sa.func.count()).select_from(schema.results)).scalar_one()
        folded = conn.execute(sa.select(schema.result_chunks.c.target, schema.result_chunks.c.checks)).all()
    assert sorted(c for _, c in folded) == [60, 60, 60, 60] and raw_left == 60  # the open hour stays raw
    assert store.results_between(start, end) == before  # the same rows, values and order
    assert store.count_results() == 300
    reader = store.reader()
    mid = (T0 + timedelta(minutes=30)).timestamp()
    ok = [(t, ts) for t, ts, _ in reader.successes(["web"], mid, end)]
    assert ok == [(r.target, r.ts) for r in before if r.target == "web" and r.success and r.ts >= mid]
    assert sorted(d for *_, d in reader.durations(["gw"], start, end)) == sorted(
        r.duration for r in before if r.target == "gw" and r.success
    )


def test_a_late_row_for_a_folded_hour_stays_raw_and_is_read(store: sdb.Store) -> None:
    store.write_cycle([result("gw", m) for m in range(60)], [], T0.timestamp())
    store.rollup((T0 + timedelta(hours=2)).timestamp())
    late = result("gw", 30.5, ok=False)
    store.write_cycle([late], [], T0.timestamp())
    rows = store.results_between(T0.timestamp(), (T0 + timedelta(hours=1)).timestamp())
    assert len(rows) == 61 and [r.success for r in rows].count(False) == 1
    assert store.count_results() == 61


def test_retention_drops_old_chunks(store: sdb.Store) -> None:
    store.write_cycle([result("gw", m) for m in range(120)], [], T0.timestamp())
    now = (T0 + timedelta(days=40)).timestamp()
    store.rollup(now)
    assert store.count_results() == 120
    assert store.apply_retention(now, raw_retention=35 * 86400, rollup_retention=None) == 120
    assert store.count_results() == 0


@pytest.mark.scale
@pytest.mark.shares_cpu  # no timing asserted: it may run beside other tests
def test_an_hour_of_two_thousand_targets_folds_whole_and_reads_back_the_same(store: sdb.Store) -> None:
    """The day vigia watches a big district: 2,000 targets checked every minute, 120,000 rows in
    the hour being folded, while the daemon keeps writing the next hour. Nothing is lost or changed."""
    targets = [f"t{i:04d}" for i in range(2000)]
    for m in range(60):  # one cycle a minute, as the writer stores them
        batch = [
            result(t, m + i / 4000, ok=(i + m) % 97 != 0, rtt=0.0003 + (i % 13) * 1e-5) for i, t in enumerate(targets)
        ]
        store.write_cycle(batch, [], T0.timestamp())
    start, end = T0.timestamp(), (T0 + timedelta(hours=1)).timestamp()
    sample = ["t0000", "t0999", "t1999"]
    before = [r for r in store.results_between(start, end) if r.target in sample]
    store.write_cycle([result(t, 61) for t in targets[:10]], [], T0.timestamp())  # the next hour, still open
    store.rollup((T0 + timedelta(hours=1, minutes=5)).timestamp())
    with store.engine.connect() as conn:
        raw_left = conn.execute(sa.select(sa.func.count()).select_from(schema.results)).scalar_one()
        chunk_rows = conn.execute(sa.select(sa.func.count()).select_from(schema.result_chunks)).scalar_one()
    assert (raw_left, chunk_rows) == (10, 2000)  # the hour folded whole, one chunk per target; the open hour raw
    assert store.count_results() == 120_010
    after = [r for r in store.results_between(start, end) if r.target in sample]
    assert after == before and len(after) == 180
    successes = sum(1 for _t, _ts, _d in store.reader().successes(targets, start, end))
    assert successes == 120_000 - sum(1 for i in range(2000) for m in range(60) if (i + m) % 97 == 0)
