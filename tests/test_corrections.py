"""Corrections after the fact (domain.corrections), as a table: what a late window and an
exclusion make of the periods as measured."""

from __future__ import annotations

import pytest

from domain.availability import Period
from domain.corrections import EXCLUDED, PLANNED, Layer, corrected_seconds, overlay


def window(start: float, end: float, name: str = "cli-1", targets: tuple[str, ...] = ("ZD-01",)) -> Layer:
    return Layer(PLANNED, frozenset(targets), start, end, name)


def excluded(start: float, end: float, name: str = "corr-1") -> Layer:
    return Layer(EXCLUDED, frozenset({"ZD-01"}), start, end, name)


DOWN = Period("down", 100.0, 520.0, "gateway_timeout")  # a 7-minute outage

CASES = [
    ("no correction", [], [DOWN]),
    ("another zone's window", [window(0, 1000, targets=("ZD-02",))], [DOWN]),
    ("a window over all of it", [window(0, 1000)], [Period(PLANNED, 100, 520, "cli-1")]),
    ("a window over its middle", [window(200, 300)],
     [Period("down", 100, 200, "gateway_timeout"), Period(PLANNED, 200, 300, "cli-1"),
      Period("down", 300, 520, "gateway_timeout")]),
    ("a window from before to its middle", [window(0, 300)],
     [Period(PLANNED, 100, 300, "cli-1"), Period("down", 300, 520, "gateway_timeout")]),
    ("excluded over all of it", [excluded(100, 520)], [Period(EXCLUDED, 100, 520, "corr-1")]),
    ("an exclusion wins over a window", [window(0, 1000), excluded(100, 300)],
     [Period(EXCLUDED, 100, 300, "corr-1"), Period(PLANNED, 300, 520, "cli-1")]),
    ("two windows side by side", [window(100, 300, "cli-1"), window(300, 520, "cli-2")],
     [Period(PLANNED, 100, 300, "cli-1"), Period(PLANNED, 300, 520, "cli-2")]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "layers", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_correction_turns_only_the_down_time_it_covers(
    case: str, layers: list[Layer], expected: list[Period]
) -> None:
    assert overlay("ZD-01", [DOWN], layers, 2000.0) == expected, case


def test_other_kinds_and_open_periods() -> None:
    """No data, degraded and maintenance stay what they were; an open outage keeps its open end past
    a window that covers only its start."""
    kept = [Period("no_data", 0, 50, ""), Period("degraded", 50, 90, "loss")]
    assert overlay("ZD-01", kept, [window(0, 1000)], 2000.0) == kept
    open_down = Period("down", 100, None, "gateway_timeout")
    assert overlay("ZD-01", [open_down], [window(0, 300)], 2000.0) == [
        Period(PLANNED, 100, 300, "cli-1"),
        Period("down", 300, None, "gateway_timeout"),
    ]
    assert overlay("ZD-01", [open_down], [window(0, 3000)], 2000.0) == [Period(PLANNED, 100, None, "cli-1")]


def test_two_outages_stay_two() -> None:
    first, second = Period("down", 0, 100, "x"), Period("down", 100, 200, "x")
    assert overlay("ZD-01", [first, second], [window(500, 600)], 1000.0) == [first, second]


def test_the_corrected_seconds() -> None:
    after = overlay("ZD-01", [DOWN], [window(200, 300)], 2000.0)
    assert corrected_seconds([DOWN], after, 0, 1000) == 100.0
    assert corrected_seconds([DOWN], after, 250, 1000) == 50.0
