"""A zone agent's batch on the wire (domain.agents): refused whole naming the field, times
corrected by the clock offset the centre measures, tokens compared in constant time."""

from __future__ import annotations

import json

import pytest

from domain import agents as ag


def batch(sent_at: float = 10_000.0, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "zone": "ZD-01", "version": "0.9", "sent_at": sent_at, "boot_time": 5_000.0, "clock_synced": True,
        "results": [{"seq": 1, "at": sent_at - 30, "check": "gateway", "probe": "icmp", "success": True,
                     "duration": 0.02, "values": {"loss_ratio": 0.0}}],
    }  # fmt: skip
    return {**body, **changes}


def test_a_batch_in_shape_is_read() -> None:
    b = ag.parse(json.dumps(batch()).encode())
    assert b.zone == "ZD-01" and b.results[0].values == {"loss_ratio": 0.0}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"zone": "ZD 01"}, "zone"),
        ({"extra": 1}, "extra"),
        ({"results": [{"seq": 0, "at": 1.0, "check": "g", "probe": "icmp", "success": True, "duration": 0}]},
         "results.0.seq"),
        ({"results": [{"seq": 1, "at": 1.0, "check": "g", "probe": "icmp", "success": "yes", "duration": 0}]},
         "results.0.success"),
        ({"dropped": -1}, "dropped"),
        # NaN and infinities (JSON as Python writes it): no time or value of a check is one.
        ({"results": [{"seq": 1, "at": 1.0, "check": "g", "probe": "icmp", "success": True, "duration": 0,
                       "values": {"loss_ratio": float("nan")}}]}, "results.0.values.loss_ratio"),
        ({"results": [{"seq": 1, "at": float("nan"), "check": "g", "probe": "icmp", "success": True,
                       "duration": 0}]}, "results.0.at"),
        ({"sent_at": float("inf")}, "sent_at"),
    ],
)  # fmt: skip
def test_a_batch_out_of_shape_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ag.BatchRefused) as info:
        ag.parse(json.dumps(batch(**changes)).encode())
    assert info.value.reason == "schema" and info.value.detail.startswith(field + ":")


def test_garbage_is_refused_too() -> None:
    for body in (b"", b"{", b"\xff\xfe", b"[]", b"null"):
        with pytest.raises(ag.BatchRefused, match="schema"):
            ag.parse(body)


def test_a_clock_five_minutes_ahead_is_corrected_and_small_drift_left_alone() -> None:
    b = ag.parse(json.dumps(batch(sent_at=10_300.0)).encode())  # the agent's clock 300 s ahead
    assert ag.offset(b, 10_000.0) == -300.0
    [(_, at)] = ag.corrected(b, 10_000.0)
    assert at == 10_300.0 - 30 - 300
    b2 = ag.parse(json.dumps(batch(sent_at=10_001.5)).encode())
    assert ag.offset(b2, 10_000.0) == 0.0  # within 2 s: NTP's business, not a correction


def test_a_time_out_of_bounds_after_correction_is_refused_with_the_reason() -> None:
    future = batch(results=[{"seq": 7, "at": 20_000.0, "check": "g", "probe": "icmp", "success": True,
                             "duration": 0}])  # fmt: skip
    with pytest.raises(ag.BatchRefused, match=r"time: result 7 measured 10000 s in the future"):
        ag.corrected(ag.parse(json.dumps(future).encode()), 10_000.0)
    ancient = batch(sent_at=1e6, results=[{"seq": 8, "at": 1e6 - 9 * 86400, "check": "g", "probe": "icmp",
                                            "success": True, "duration": 0}])  # fmt: skip
    with pytest.raises(ag.BatchRefused, match=r"result 8 measured 9.0 days ago"):
        ag.corrected(ag.parse(json.dumps(ancient).encode()), 1e6)


def test_tokens_are_kept_hashed_and_compared_whole() -> None:
    token = ag.new_token()
    stored = ag.token_hash(token)
    assert token not in stored and len(token) >= 40
    assert ag.token_matches(token, stored)
    assert not ag.token_matches(token[:-1], stored) and not ag.token_matches("", stored)
    other = ag.new_token()
    index = ag.TokenIndex({"ZD-01": stored, "ZD-02": ag.token_hash(other)})
    assert index.owner(other) == "ZD-02" and index.owner(token) == "ZD-01"
    assert index.owner("") is None and index.owner(token + "x") is None and index.owner(stored) is None
