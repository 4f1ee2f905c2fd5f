"""Zone availability: verdicts from checks, hysteresis, no-data, maintenance, operating hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.schedule import Schedule, WeekPlan
from domain.zone_state import DEGRADED, FAILED, NO_DATA, OK, ZoneState, ZoneStatus, observe
from domain.zones import Zone, ZoneThresholds, parse_bandwidth
from probes import result as r
from probes.result import ProbeResult

T0 = datetime(2025, 1, 15, 15, 0, tzinfo=UTC)  # 10:00 in Bogotá
BOGOTA = ZoneInfo("America/Bogota")


def zone(hours: str = "06:00-22:00") -> Zone:
    return Zone(
        "ZD-01",
        "Plaza de la Aduana",
        "Centro",
        1,
        "Histórica",
        "urbana",
        10.4,
        -75.5,
        Schedule(WeekPlan.parse(hours)),
        hours,
        0.98,
        100e6,
        (),
        ZoneThresholds(),
        {"gateway": "ZD-01:gateway", "portal": "ZD-01:portal"},
        {},
        None,
        2,
        1,
        60.0,
    )


def gw(loss: float, rtt: float = 0.01, reason: str = "") -> ProbeResult:
    ok = loss <= 0.5 and not reason
    return ProbeResult(
        "ZD-01:gateway",
        "icmp",
        T0,
        0.1,
        ok,
        reason or ("" if ok else r.LOSS),
        "",
        {"loss_ratio": loss, "rtt_avg_seconds": rtt},
    )


def portal(ok: bool = True, reason: str = r.REFUSED) -> ProbeResult:
    return ProbeResult("ZD-01:portal", "http", T0, 0.1, ok, "" if ok else reason, "" if ok else "refused")


def results(*items: ProbeResult) -> dict[str, ProbeResult]:
    return {x.target: x for x in items}


def test_verdicts() -> None:
    z = zone()
    assert observe(z, results(gw(0.0), portal()), True).verdict == OK
    obs = observe(z, results(gw(0.25), portal()), True)
    assert (obs.verdict, obs.message) == (DEGRADED, "loss 25% > 5%")
    assert observe(z, results(gw(0.0, rtt=0.4), portal()), True).verdict == DEGRADED
    obs = observe(z, results(gw(0.0), portal(False)), True)
    assert (obs.verdict, obs.reason) == (FAILED, "portal_refused")
    assert obs.checks == {"gateway": True, "portal": False}
    assert observe(z, results(gw(1.0), portal()), True).verdict == FAILED
    assert observe(z, results(gw(1.0, reason=r.PERMISSION), portal()), True).verdict == NO_DATA
    assert observe(z, results(gw(1.0), portal()), False).reason == "watchdog"
    assert observe(z, {}, True).verdict == NO_DATA


def test_down_after_two_failed_cycles_starting_at_the_first() -> None:
    z, st = zone(), ZoneState("ZD-01", 2, 1)
    ok = observe(z, results(gw(0.0), portal()), True)
    bad = observe(z, results(gw(1.0), portal()), True)
    assert st.update(T0, ok, maintenance=False, in_hours=True).new == ZoneStatus.UP
    assert st.update(T0 + timedelta(minutes=1), bad, maintenance=False, in_hours=True) is None
    tr = st.update(T0 + timedelta(minutes=2), bad, maintenance=False, in_hours=True)
    assert tr.new == ZoneStatus.DOWN and tr.at == T0 + timedelta(minutes=1)
    assert st.update(T0 + timedelta(minutes=3), bad, maintenance=False, in_hours=True) is None
    back = st.update(T0 + timedelta(minutes=4), ok, maintenance=False, in_hours=True)
    assert back.new == ZoneStatus.UP and back.at == T0 + timedelta(minutes=4)


def test_degraded_no_data_and_maintenance() -> None:
    z, st = zone(), ZoneState("ZD-01", 2, 1)
    deg = observe(z, results(gw(0.25), portal()), True)
    assert st.update(T0, deg, maintenance=False, in_hours=True).new == ZoneStatus.DEGRADED
    nod = observe(z, results(gw(1.0), portal()), False)
    assert st.update(T0 + timedelta(minutes=1), nod, maintenance=False, in_hours=True).new == ZoneStatus.NO_DATA
    tr = st.update(T0 + timedelta(minutes=2), deg, maintenance=True, in_hours=True)
    assert tr.new == ZoneStatus.MAINTENANCE
    after = st.update(T0 + timedelta(minutes=3), deg, maintenance=False, in_hours=True)
    # Out of maintenance straight into its judged state: the transition closes the window's period.
    assert (after.old, after.new) == (ZoneStatus.MAINTENANCE, ZoneStatus.DEGRADED)
    bad = observe(z, results(gw(1.0), portal()), True)
    assert st.update(T0 + timedelta(minutes=4), deg, maintenance=True, in_hours=True).new == ZoneStatus.MAINTENANCE
    failing = st.update(T0 + timedelta(minutes=5), bad, maintenance=False, in_hours=True)
    assert (failing.old, failing.new) == (ZoneStatus.MAINTENANCE, ZoneStatus.UNKNOWN)  # the streak decides next


@pytest.mark.parametrize(
    ("hours", "local", "inside"),
    [
        ("06:00-22:00", "05:59", False),
        ("06:00-22:00", "06:00", True),
        ("06:00-22:00", "21:59", True),
        ("06:00-22:00", "22:00", False),
        ("18:00-02:00", "23:30", True),
        ("18:00-02:00", "01:59", True),
        ("18:00-02:00", "02:00", False),
        ("00:00-24:00", "03:00", True),
    ],
)
def test_operating_hours_in_local_time(hours: str, local: str, inside: bool) -> None:
    h, m = (int(x) for x in local.split(":"))
    at = datetime(2025, 1, 15, h, m, tzinfo=BOGOTA).astimezone(UTC)
    assert zone(hours).in_hours(at, BOGOTA) is inside


def test_parsers_refuse_nonsense() -> None:
    assert parse_bandwidth("100Mbps") == 100e6
    assert parse_bandwidth("1.5Gbps") == 1.5e9
    for bad in ("25:00-26:00", "6-22", "06:00-06:00"):
        with pytest.raises(ValueError):
            WeekPlan.parse(bad)
    with pytest.raises(ValueError):
        parse_bandwidth("100 megas")
