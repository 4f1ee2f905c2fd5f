"""Two views, one verdict, one cause (domain.vantage), as a table: each row a situation a zone
meets, the central view's verdict, what its agent measured, and what vigia must conclude."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.vantage import CENTRAL, DEGRADADA, ENERGIA, ENLACE, EQUIPO, INSIDE, PORTAL, InsideView, inside_view, judge
from domain.zone_state import DEGRADED, FAILED, NO_DATA, OK
from domain.zones import ZoneThresholds
from probes.result import ProbeResult

FINE = InsideView(gateway=True, access_points=True, dns=True, portal=True, internet=True)


def with_(**changes: object) -> InsideView:
    return InsideView(**{**FINE.__dict__, **changes})  # type: ignore[arg-type]


ROWS = [
    # situation, central, inside, rebooted -> verdict, cause, view, path event
    ("all well", OK, FINE, False, OK, "", INSIDE, False),
    ("backhaul cut: gateway up, internet gone", FAILED, with_(internet=False, portal=False), False,
     FAILED, ENLACE, INSIDE, False),
    ("power cut: agent silent, boots after the gap", FAILED, None, True, FAILED, ENERGIA, CENTRAL, False),
    ("agent silent, no boot seen: centre alone, cause unknown", FAILED, None, False, FAILED, "", CENTRAL, False),
    ("gateway dead from inside", FAILED, with_(gateway=False, internet=False), False, FAILED, EQUIPO, INSIDE, False),
    ("access points dead", OK, with_(access_points=False), False, FAILED, EQUIPO, INSIDE, False),
    ("resolver hijacked or down", OK, with_(dns=False), False, FAILED, EQUIPO, INSIDE, False),
    ("portal down, internet up", FAILED, with_(portal=False), False, FAILED, PORTAL, INSIDE, False),
    ("only the centre's path cut", FAILED, FINE, False, OK, "", INSIDE, True),
    ("slow inside", OK, with_(degraded=("loss 20% > 5%",)), False, DEGRADED, DEGRADADA, INSIDE, False),
    ("slow inside, centre path cut", FAILED, with_(degraded=("RTT 300 ms > 150 ms",)), False,
     DEGRADED, DEGRADADA, INSIDE, True),
    ("agent silent, centre fine", OK, None, False, OK, "", CENTRAL, False),
    ("agent silent, centre cannot measure", NO_DATA, None, False, NO_DATA, "", CENTRAL, False),
    ("agent reported nothing measurable", FAILED, InsideView(), False, FAILED, "", CENTRAL, False),
]  # fmt: skip


@pytest.mark.parametrize(("situation", "central", "inside", "rebooted", "verdict", "cause", "view", "path"), ROWS)
def test_two_views_one_verdict_one_cause(
    situation: str, central: str, inside: InsideView | None, rebooted: bool, verdict: str, cause: str, view: str,
    path: bool,
) -> None:  # fmt: skip
    j = judge(central, inside, rebooted=rebooted)
    assert (j.verdict, j.cause, j.view, j.path_event) == (verdict, cause, view, path), situation


def result(name: str, ok: bool, **values: float) -> ProbeResult:
    return ProbeResult(name, "x", datetime.now(UTC), 0.01, ok, "" if ok else "timeout", values=values)


def test_the_agents_results_fold_into_an_inside_view() -> None:
    t = ZoneThresholds(degraded_throughput_bps=5e6)
    view = inside_view(
        {
            "gateway": result("gateway", True, loss_ratio=0.1, rtt_avg_seconds=0.01),
            "internet:a": result("internet:a", False),
            "internet:b": result("internet:b", True),
            "throughput": result("throughput", True, throughput_bytes_per_second=2e6 / 8),
        },
        t,
    )
    assert (view.gateway, view.internet, view.portal, view.dns) == (True, True, None, None)
    assert view.degraded == ("loss 10% > 5%", "throughput 2.0 Mbit/s < 5.0 Mbit/s")
    cut = inside_view({"gateway": result("gateway", True), "internet:a": result("internet:a", False)}, t)
    assert cut.internet is False and judge(FAILED, cut).cause == ENLACE
