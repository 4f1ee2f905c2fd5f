"""Peers that misbehave slowly: each costs its own check its own deadline, and nothing more.

The peers are real servers in a process of their own (tests/peers.py): one that accepts and
never answers, one that answers an HTTP request at a byte a second, one whose body never ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from probes import result as r
from probes.engine import GRACE, Check
from probes.http import HttpSettings
from probes.tcp import TcpSettings
from tests.probing import engine, on_engine
from tests.servers import peers

http_probe = on_engine("http")
tcp_probe = on_engine("tcp")


@pytest.fixture(scope="module")
def lo_peers() -> Iterator[dict[str, int]]:
    with peers() as ports:
        yield ports


def url(ports: dict[str, int], kind: str) -> str:
    return f"http://127.0.0.1:{ports[kind]}/"


def timed(fn, *args, timeout: float, **kw):  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    res = fn(*args, deadline=t0 + timeout, **kw)
    return res, time.monotonic() - t0


def test_a_peer_that_accepts_and_never_answers_fails_at_the_deadline(lo_peers: dict[str, int]) -> None:
    res, took = timed(http_probe, "mute", HttpSettings(url=url(lo_peers, "mute")), timeout=1.0)
    assert res.reason == r.TIMEOUT, res
    assert 1.0 - 0.05 <= took < 1.0 + 0.3
    assert res.values["phase_connect_seconds"] < 0.5  # it did connect: the wait was for an answer
    res, took = timed(
        tcp_probe, "mute", TcpSettings(host="127.0.0.1", port=lo_peers["mute"], expect="^SSH"), timeout=1.0
    )
    assert res.reason == r.TIMEOUT and took < 1.3


def test_a_trickling_answer_fails_at_the_deadline(lo_peers: dict[str, int]) -> None:
    res, took = timed(http_probe, "slow", HttpSettings(url=url(lo_peers, "trickle")), timeout=1.5)
    assert res.reason == r.TIMEOUT, res
    assert 1.5 - 0.05 <= took < 1.5 + 0.3
    assert res.values["phase_processing_seconds"] < 0.5  # the status line came at once, the body never


def test_an_endless_body_is_cut_at_its_cap(lo_peers: dict[str, int]) -> None:
    res, took = timed(
        http_probe, "flood", HttpSettings(url=url(lo_peers, "endless"), max_body_bytes=1 << 20), timeout=5
    )
    assert res.reason == r.TOO_LARGE, res
    assert took < 2.0


def test_healthy_checks_succeed_among_hundreds_of_slow_peers(lo_peers: dict[str, int]) -> None:
    timeout = 2.0
    bad = [Check(f"mute-{i}", "http", HttpSettings(url=url(lo_peers, "mute")), timeout) for i in range(200)]
    bad += [Check(f"slow-{i}", "http", HttpSettings(url=url(lo_peers, "trickle")), timeout) for i in range(100)]
    bad += [
        Check(f"flood-{i}", "http", HttpSettings(url=url(lo_peers, "endless"), max_body_bytes=1 << 16), timeout)
        for i in range(20)
    ]
    good = [
        Check(f"web-{i}", "http", HttpSettings(url=url(lo_peers, "http"), body_regex="portal"), timeout)
        for i in range(200)
    ]
    good += [
        Check(f"ssh-{i}", "tcp", TcpSettings(host="127.0.0.1", port=lo_peers["banner"], expect="^SSH-2.0"), timeout)
        for i in range(200)
    ]
    t0 = time.monotonic()
    out = engine().run([*bad, *good])  # the bad ones first, as a city-wide cut would list them
    wall = time.monotonic() - t0
    by = {res.target: res for res in out.results}
    failed = [res for c in good if not (res := by[c.target]).success]
    assert not failed, failed[:3]
    for c in bad:
        res = by[c.target]
        want = r.TOO_LARGE if c.target.startswith("flood") else r.TIMEOUT
        assert res.reason == want, res
        if want == r.TIMEOUT:
            assert timeout - 0.01 <= res.duration <= timeout + GRACE, res
    assert wall <= timeout + 1.0
    assert out.exceptions == 0
