"""State machine: hysteresis, outage start times, maintenance, no-data reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.state import State, TargetState
from probes import result as r
from probes.result import ProbeResult

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def res(minute: int, ok: bool, reason: str = r.TIMEOUT) -> ProbeResult:
    return ProbeResult("gw", "icmp", T0 + timedelta(minutes=minute), 0.01, ok, "" if ok else reason, "" if ok else "x")


def test_down_after_n_failures_with_outage_starting_at_the_first() -> None:
    st = TargetState("gw", failures_before_down=3, successes_before_up=1)
    assert st.observe(res(0, True)).new == State.UP
    assert st.observe(res(1, False)) is None
    assert st.observe(res(2, False)) is None
    tr = st.observe(res(3, False))
    assert tr is not None and tr.new == State.DOWN and tr.old == State.UP
    assert tr.outage_start == T0 + timedelta(minutes=1)
    assert st.since == T0 + timedelta(minutes=1)
    back = st.observe(res(4, True))
    assert back is not None and back.new == State.UP and back.at == T0 + timedelta(minutes=4)


def test_a_success_resets_the_failure_streak() -> None:
    st = TargetState("gw", 3, 1)
    st.observe(res(0, True))
    for minute, ok in enumerate([False, False, True, False, False]):
        assert st.observe(res(minute + 1, ok)) is None
    assert st.state == State.UP


def test_successes_before_up_counts_from_the_first_success() -> None:
    st = TargetState("gw", 1, 3)
    assert st.observe(res(0, False)).new == State.DOWN
    assert st.observe(res(1, True)) is None
    assert st.observe(res(2, True)) is None
    tr = st.observe(res(3, True))
    assert tr.new == State.UP and tr.at == T0 + timedelta(minutes=1)


def test_vigias_own_trouble_is_no_data() -> None:
    st = TargetState("gw", 1, 1)
    st.observe(res(0, True))
    for reason in (r.PERMISSION, r.INTERNAL, r.OVERRUN):
        assert st.observe(res(1, False, reason)) is None
    assert st.state == State.UP
    assert st.results == {True: 1, False: 0}


def test_maintenance_holds_state_and_restarts_fresh() -> None:
    st = TargetState("gw", 2, 1)
    st.observe(res(0, True))
    tr = st.enter_maintenance(T0 + timedelta(minutes=1), "weekly", "ventana")
    assert tr.new == State.MAINTENANCE and tr.old == State.UP
    for m in range(2, 6):
        assert st.observe(res(m, False)) is None
    assert st.state == State.MAINTENANCE
    tr = st.leave_maintenance(T0 + timedelta(minutes=6))
    assert tr.new == State.UNKNOWN
    assert st.observe(res(7, False)) is None  # streak restarted after the window
    assert st.observe(res(8, False)).new == State.DOWN
