"""The probe engine on a loop that runs late, and the garbage its checks leave.

A loop handed more checks than it can serve, or stalled by a pause (a full collection, a thread
holding the GIL), must not turn its own lateness into failures of healthy targets: a timeout it
noticed late is ``late`` (no data), new starts wait until it has caught up, and a probe is not
called stuck because the loop was. The stalls here are real: the loop's own thread sleeping.
The peers are real servers (tests/peers.py, dnsmasq).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import types
from collections.abc import Iterator

import pytest

from domain.state import State, TargetState
from probes import REGISTRY, ProbeKind
from probes import result as r
from probes.dns import DnsSettings
from probes.engine import GRACE, LATE, Check, ProbeEngine
from probes.http import HttpSettings
from probes.pacing import LIMIT, Pacer
from probes.result import ProbeResult, Timer
from probes.settings import Settings
from probes.tcp import TcpSettings
from tests.servers import peers


@pytest.fixture(scope="module")
def lo_peers() -> Iterator[dict[str, int]]:
    with peers() as ports:
        yield ports


@pytest.fixture
def eng() -> Iterator[ProbeEngine]:
    e = ProbeEngine()
    yield e
    e.close()


def stall(e: ProbeEngine, at: float, seconds: float) -> None:
    """Block the engine's loop thread for ``seconds``, ``at`` seconds from now."""
    e.loop.call_soon_threadsafe(e.loop.call_later, at, time.sleep, seconds)


def mute(ports: dict[str, int], timeout: float, target: str = "mute") -> Check:
    return Check(target, "http", HttpSettings(url=f"http://127.0.0.1:{ports['mute']}/"), timeout)


def test_a_timeout_the_loop_noticed_late_is_no_data_not_a_failure(eng: ProbeEngine, lo_peers: dict[str, int]) -> None:
    [control] = eng.run([mute(lo_peers, 0.5)]).results
    assert control.reason == r.TIMEOUT  # on a loop that is on time, a mute peer is a timeout
    stall(eng, 0.3, 0.8)  # the loop sleeps across the deadline (0.5 s): noticed ~0.6 s late
    [res] = eng.run([mute(lo_peers, 0.5)]).results
    assert res.reason == r.LATE, res
    assert "deadline" in res.message and "late" in res.message
    assert eng.late == 1 and eng.cancelled == 0
    state = TargetState("mute", failures_before_down=1, successes_before_up=1)
    state.observe(Timer().ok("mute", "http"))
    assert state.observe(res) is None and state.state == State.UP  # no data: the target stays up
    assert state.observe(control) is not None and state.state == State.DOWN


class Empty(Settings, frozen=True):
    pass


async def tidy(target: str, settings: Empty, *, deadline: float) -> ProbeResult:
    """Waits for an answer that never comes, then takes a few loop turns to tidy up (as a TLS
    session's shutdown or an SMTP QUIT would) before it reports its timeout."""
    timer = Timer()
    try:
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + deadline - time.monotonic()):
            await asyncio.Event().wait()
    except TimeoutError:
        for _ in range(3):
            await asyncio.sleep(0)
    return timer.fail(target, "tidy", r.TIMEOUT, "no answer")


@pytest.fixture
def tidy_kind() -> Iterator[None]:
    REGISTRY["tidy"] = ProbeKind("tidy", Empty, tidy, ())
    yield
    del REGISTRY["tidy"]


def test_a_probe_is_not_called_stuck_because_the_loop_was(eng: ProbeEngine, tidy_kind: None) -> None:
    # The stall spans the deadline and the grace after it: the engine's own alarm is as late as the
    # probe's timeout, and the probe needs a few more turns to end. Without a fresh grace the engine
    # would cancel it and count a bug.
    [control] = eng.run([Check("t", "tidy", Empty(), 0.3)]).results
    assert control.reason == r.TIMEOUT and eng.cancelled == 0
    stall(eng, 0.1, 0.3 + GRACE + 0.5)
    [res] = eng.run([Check("t", "tidy", Empty(), 0.3)]).results
    assert res.reason == r.LATE, res
    assert eng.cancelled == 0


def test_starts_wait_while_the_loop_is_late_and_count_their_deadline_from_their_start(
    eng: ProbeEngine, lo_peers: dict[str, int]
) -> None:
    for k in range(3):  # three stalls of twice LIMIT back to back: 0.3 s of a loop running late
        stall(eng, 0.02 + 2 * LIMIT * k, 2 * LIMIT)
    checks = [
        Check(f"t{i}", "tcp", TcpSettings(host="127.0.0.1", port=lo_peers["banner"]), 1.0, offset=0.05 + i * 0.005)
        for i in range(40)
    ]
    results = eng.run(checks).results
    assert eng.held > 0  # some starts waited
    assert all(res.success for res in results), [res for res in results if not res.success][:3]
    # each check's clock started when it did: none carries the stalls it waited through
    assert max(res.duration for res in results) < 2 * LIMIT
    assert eng.take_loop_lag() >= LIMIT


def test_a_check_the_loop_never_caught_up_for_is_not_started(eng: ProbeEngine, lo_peers: dict[str, int]) -> None:
    for k in range(9):  # stalls of twice LIMIT back to back: late for 1.8 s straight
        stall(eng, 0.01 + 2 * LIMIT * k, 2 * LIMIT)
    checks = [
        Check(f"t{i}", "tcp", TcpSettings(host="127.0.0.1", port=lo_peers["banner"]), 0.4, offset=0.1) for i in range(5)
    ]
    results = eng.run(checks).results
    assert {res.reason for res in results} == {r.OVERRUN}, results
    assert "not started" in results[0].message and "late" in results[0].message
    state = TargetState("t0", failures_before_down=1, successes_before_up=1)
    assert state.observe(results[0]) is None and state.state == State.UNKNOWN  # no data


def test_the_pacer_releases_waiting_starts_in_order_once_the_loop_caught_up() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        pacer = Pacer(loop)
        pacer.begin()
        await asyncio.sleep(0.03)
        time.sleep(LIMIT * 2)  # the loop stalls: the next tick finds it late
        await asyncio.sleep(0.002)  # a timer due after the tick: the tick has run
        order: list[int] = []

        async def start(i: int) -> None:
            await pacer.admit()
            order.append(i)

        assert not pacer.calm()
        await asyncio.gather(*(start(i) for i in range(80)))
        pacer.end()
        assert pacer.held == 80
        return order

    assert asyncio.run(main()) == list(range(80))


def _of_the_engine(obj: object) -> bool:
    """Whether a piece of garbage was made by a check: probes' own objects, frames and functions,
    the HTTP parser. Other garbage of the test process (asyncio.run's, pytest's) is not ours."""
    if isinstance(obj, types.FrameType):
        return "/probes/" in obj.f_code.co_filename
    if isinstance(obj, types.FunctionType | types.MethodType):
        return getattr(obj, "__module__", "").startswith("probes")
    return (type(obj).__module__ or "").startswith(("probes", "httptools"))


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_checks_leave_no_reference_cycles(
    eng: ProbeEngine, lo_peers: dict[str, int], dnsmasq: tuple[str, int], no_collector: None
) -> None:
    """Thousands of checks a cycle, each leaving a reference cycle, made the collector run full
    collections every second or two on the loop's thread (0.15-0.35 s each at 15,000 targets)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a DNS server that never answers
    silent.bind(("127.0.0.1", 0))
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    host, port = dnsmasq
    checks = [
        Check("ok-http", "http", HttpSettings(url=f"http://127.0.0.1:{lo_peers['http']}/"), 1.0),
        Check("mute-http", "http", HttpSettings(url=f"http://127.0.0.1:{lo_peers['mute']}/"), 0.3),
        Check("refused-http", "http", HttpSettings(url=f"http://127.0.0.1:{refused.getsockname()[1]}/"), 1.0),
        Check("ok-tcp", "tcp", TcpSettings(host="127.0.0.1", port=lo_peers["banner"], expect="^SSH"), 1.0),
        Check("mute-tcp", "tcp", TcpSettings(host="127.0.0.1", port=lo_peers["mute"], expect="^SSH"), 0.3),
        Check("refused-tcp", "tcp", TcpSettings(host="127.0.0.1", port=refused.getsockname()[1]), 1.0),
        Check("ok-dns", "dns", DnsSettings(server=host, port=port, name="portal.zonas.test"), 1.0),
        Check("mute-dns", "dns", DnsSettings(server="127.0.0.1", port=silent.getsockname()[1], name="a.test"), 0.3),
    ]
    try:
        eng.run(checks)  # the first run imports and caches what later runs reuse
        gc.set_debug(gc.DEBUG_SAVEALL)
        results = {res.target: res for res in eng.run(checks).results}
        time.sleep(0.2)  # closed transports' last callbacks
        gc.collect()
        ours = [obj for obj in gc.garbage if _of_the_engine(obj)]
    finally:
        silent.close()
        refused.close()
    assert results["ok-http"].success and results["ok-tcp"].success and results["ok-dns"].success, results
    assert {results[t].reason for t in ("mute-http", "mute-tcp", "mute-dns")} == {r.TIMEOUT}
    assert {results[t].reason for t in ("refused-http", "refused-tcp")} == {r.REFUSED}
    kinds = sorted({type(obj).__qualname__ for obj in ours})
    assert not ours, f"{len(ours)} objects in reference cycles after one run: {kinds}"


def test_late_is_a_reason_of_its_own_with_public_text() -> None:
    assert r.LATE not in (r.TIMEOUT, r.OVERRUN)
    assert "busy" in r.public_text(r.LATE, {})
    assert LATE < GRACE  # a late timeout is told from a stuck probe
