"""ProbeResult, a frozen msgspec struct (built in C for every check): fields by name and by place,
frozen, fresh defaults, a restamp that changes only the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import msgspec.structs
import pytest

from probes.result import ProbeResult, Series, Timer

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_every_field_lands_where_its_name_says_and_stays_frozen() -> None:
    given = {
        "target": "ZD-01:portal", "probe": "http", "started_at": T0, "duration": 0.25, "success": False,
        "reason": "timeout", "message": "no answer", "values": {"status_code": 0.0},
        "labels": {"server": "nginx"}, "series": (Series("x", (("k", "v"),), 1.0),),
    }  # fmt: skip
    assert list(ProbeResult.__struct_fields__) == list(given)
    by_name, by_place = ProbeResult(**given), ProbeResult(*given.values())  # type: ignore[arg-type]
    for result in (by_name, by_place):
        assert {name: getattr(result, name) for name in given} == given
    assert by_name == by_place
    with pytest.raises(AttributeError):
        by_name.success = True  # type: ignore[misc]
    # each field replaced alone, the rest kept
    source = ProbeResult("t", "tcp", T0.replace(hour=1), 9.0, True, "", "", {"y": 1.0}, {"a": "b"}, ())
    for name in given:
        other = msgspec.structs.replace(by_name, **{name: getattr(source, name)})
        assert {n: getattr(other, n) for n in given} == given | {name: getattr(source, name)}


def test_defaults_are_fresh_per_result_and_a_restamp_changes_only_the_clock() -> None:
    a, b = ProbeResult("a", "icmp", T0, 0.1, True), ProbeResult("b", "icmp", T0, 0.1, True)
    assert a.values == {} and a.labels == {} and a.series == () and a.reason == a.message == ""
    assert a.values is not b.values and a.labels is not b.labels
    failed = Timer().fail("gw", "icmp", "loss", "2 of 3 echo replies", {"loss_ratio": 0.66})
    later = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    again = failed.restamped(later, 1.5)
    assert (again.started_at, again.duration) == (later, 1.5)
    assert msgspec.structs.replace(again, started_at=failed.started_at, duration=failed.duration) == failed
