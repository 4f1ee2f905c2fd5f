"""Zone agents in the store, on SQLite and PostgreSQL: a token printed once and kept hashed, a
live agent never replaced silently, and each batch stored exactly once, whoever receives it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain import agents as ag
from kernel.errors import InputError
from store import db as st


def batch(seqs: range, *, dropped: int = 0, sent_at: float = 10_000.0) -> ag.AgentBatch:
    results = [{"seq": s, "at": sent_at - 60 + s, "check": "gateway", "probe": "icmp", "success": s % 2 == 0,
                "duration": 0.01, "values": {"loss_ratio": 0.0}} for s in seqs]  # fmt: skip
    body = {"zone": "ZD-01", "version": "1.0", "sent_at": sent_at, "boot_time": 5000.0, "clock_synced": True,
            "dropped": dropped, "results": results}  # fmt: skip
    return ag.parse(json.dumps(body).encode())


def test_tokens_are_printed_once_kept_hashed_and_revocable(url: str) -> None:
    store = st.Store(url, "centro-a")
    store.migrate()
    agents = store.agents("ha")
    token = agents.add("ZD-01", "ana", 1000.0)
    assert agents.tokens() == {"ZD-01": ag.token_hash(token)}
    with pytest.raises(InputError, match=r"zone 'ZD-01' has an agent already"):
        agents.add("ZD-01", "ana", 1001.0)
    agents.revoke("ZD-01", "luis", 1002.0)
    assert agents.tokens() == {}
    with pytest.raises(InputError, match="no agent to revoke"):
        agents.revoke("ZD-01", "luis", 1003.0)
    again = agents.add("ZD-01", "ana", 1004.0)  # a revoked agent's zone gets a new token
    assert again != token and agents.tokens() == {"ZD-01": ag.token_hash(again)}
    [row] = agents.listed()
    assert (row.zone, row.created_by, row.revoked_at) == ("ZD-01", "ana", None)
    store.close()


def test_a_batch_is_stored_once_whoever_receives_it_and_however_often(url: str) -> None:
    a, b = st.Store(url, "centro-a"), st.Store(url, "centro-b")
    a.migrate()
    a.agents("ha").add("ZD-01", "ana", 1000.0)
    first = batch(range(1, 6), dropped=3)
    got = a.agents("ha").store(first, ag.corrected(first, 10_000.0), received_at=10_000.0, skew=0.0)
    assert (got.new, got.duplicates, got.last_seq) == (5, 0, 5)
    # The agent did not hear the answer and fails over to the other instance of the HA group,
    # which gets the same results and three more: only the three are new.
    retry = batch(range(1, 9), sent_at=10_030.0)
    got = b.agents("ha").store(retry, ag.corrected(retry, 10_030.0), received_at=10_030.0, skew=0.0)
    assert (got.new, got.duplicates, got.last_seq) == (3, 5, 8)
    [row] = a.agents("ha").listed()
    assert (row.last_seq, row.dropped_total, row.version, row.last_push_at) == (8, 3, "1.0", 10_030.0)
    # An older batch arriving late never moves the agent's last sequence back.
    a.agents("ha").store(first, ag.corrected(first, 10_040.0), received_at=10_040.0, skew=0.0)
    assert a.agents("ha").listed()[0].last_seq == 8
    with a.engine.connect() as conn:
        seqs = [r[0] for r in conn.exec_driver_sql("SELECT seq FROM agent_results ORDER BY seq")]
    assert seqs == list(range(1, 9))
    a.close()
    b.close()


def test_retention_forgets_an_owners_old_results_and_no_one_elses(url: str) -> None:
    store = st.Store(url, "centro-a")
    store.migrate()
    for owner in ("ha", "otra"):
        store.agents(owner).add("ZD-01", "ana", 1000.0)
        b = batch(range(1, 9))  # measured at 9,941 to 9,948
        store.agents(owner).store(b, ag.corrected(b, 10_000.0), received_at=10_000.0, skew=0.0)
    assert store.agents("ha").forget_before(9_945.0) == 4
    with store.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT owner, seq FROM agent_results ORDER BY owner, seq").all()
    assert [tuple(r) for r in left] == [("ha", s) for s in range(5, 9)] + [("otra", s) for s in range(1, 9)]
    store.close()


def test_a_result_quoting_nul_bytes_is_stored_not_refused(url: str) -> None:
    # An agent's node check quotes a device's binary answer in its message, NUL bytes and all
    # (probes.node: "not a Prometheus exposition (invalid metric name:\x00...)"): measured, valid on
    # the wire. PostgreSQL's text refuses NUL, and a batch refused whole is sent again for ever with
    # the agent's whole outbox behind it: stored, NUL as U+FFFD in its texts, on both stores alike.
    store = st.Store(url, "centro-a")
    store.migrate()
    store.agents("ha").add("ZD-01", "ana", 1000.0)
    garbage = "not a Prometheus exposition (invalid metric name:\x00\x00garbage)"
    results = [
        {
            "seq": 1,
            "at": 9_990.0,
            "check": "node",
            "probe": "node",
            "success": False,
            "duration": 0.01,
            "reason": "protocol\x00",
            "message": garbage,
            "labels": {"banner": "OK\x00 v1"},
        },
        {"seq": 2, "at": 9_991.0, "check": "gateway", "probe": "icmp", "success": True, "duration": 0.01},
    ]
    body = {"zone": "ZD-01", "version": "1.0", "sent_at": 10_000.0, "boot_time": 5000.0, "clock_synced": True,
            "results": results}  # fmt: skip
    b = ag.parse(json.dumps(body).encode())
    got = store.agents("ha").store(b, ag.corrected(b, 10_000.0), received_at=10_000.0, skew=0.0)
    assert (got.new, got.last_seq) == (2, 2)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT seq, reason, message, data FROM agent_results ORDER BY seq").all()
    assert rows[0][1:3] == ("protocol\ufffd", "not a Prometheus exposition (invalid metric name:\ufffd\ufffdgarbage)")
    assert json.loads(rows[0][3])["labels"] == {"banner": "OK\ufffd v1"}
    assert rows[1][0] == 2
    store.close()


def test_a_replaced_agents_results_are_stored_not_taken_for_replays(url: str, tmp_path: Path) -> None:
    # The zone's box is replaced (or its card reflashed) after a year of results: its new outbox
    # must not number them as the old one did, or the centre takes them for replays and drops them.
    from store.outbox import Outbox

    store = st.Store(url, "centro-a")
    store.migrate()
    store.agents("ha").add("ZD-01", "ana", 1000.0)
    clock = [9_000.0]
    for _ in range(2):  # the old box, then its replacement an hour later, each with a new outbox
        box = Outbox(tmp_path / f"outbox-{clock[0]:.0f}.db", clock=lambda: clock[0])
        box.put([{"at": clock[0] - 30 + i, "check": "gateway", "probe": "icmp", "success": True,
                  "duration": 0.01, "values": {"loss_ratio": 0.0}} for i in range(3)])  # fmt: skip
        pending = box.pending(100, 10**6)
        body = {"zone": "ZD-01", "version": "1.0", "sent_at": clock[0], "boot_time": 5000.0,
                "clock_synced": True, "results": pending.results}  # fmt: skip
        b = ag.parse(json.dumps(body).encode())
        got = store.agents("ha").store(b, ag.corrected(b, clock[0]), received_at=clock[0], skew=0.0)
        assert (got.new, got.duplicates) == (3, 0), clock
        box.close()
        clock[0] += 3600
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM agent_results").scalar_one() == 6
    store.close()
