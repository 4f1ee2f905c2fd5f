"""ICMP engine: real echo requests to loopback addresses and to lab hosts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import ping3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import icmpwire
from probes import result as r
from probes.icmp import IcmpEngine, IcmpRequest, IcmpSettings, _Slot, _Waiter
from probes.icmpreplies import Job
from tests.conftest import need_binary, need_root


@pytest.fixture
def engine():
    need_root()
    eng = IcmpEngine()
    yield eng
    eng.close()


def loopback(n: int) -> list[str]:
    return [f"127.{10 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


def test_hundreds_of_loopback_addresses_all_answer_and_are_credited(engine: IcmpEngine) -> None:
    addresses = loopback(600)
    reqs = [IcmpRequest(f"t{i}", IcmpSettings(address=a), 3) for i, a in enumerate(addresses)]
    results = engine.probe_batch(reqs, deadline=time.monotonic() + 3.0)
    assert [res.target for res in results] == [f"t{i}" for i in range(600)]
    failed = [(res.target, res.reason, res.message, res.values) for res in results if not res.success]
    assert failed == [], f"{len(failed)} of 600 failed, first: {failed[:3]}"
    for res in results:
        assert res.values["packets_sent"] == 3
        assert res.values["packets_received"] == 3
        assert res.values["loss_ratio"] == 0.0
        assert 0 < res.values["rtt_min_seconds"] <= res.values["rtt_avg_seconds"] <= res.values["rtt_max_seconds"] < 1
        assert res.values["rtt_jitter_seconds"] >= 0


def test_past_its_deadline_a_batch_sends_nothing_more(engine: IcmpEngine) -> None:
    # The deadline was looked at every 64th packet and stopped only that one: a batch that ran
    # past it went on sending, and its late packets were credited or counted lost as if timed.
    sent = []
    original = engine._sockets[socket.AF_INET]

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(original, name)

        def sendto(self, packet: bytes, address: tuple[str, int]) -> int:
            sent.append(address[0])
            return original.sendto(packet, address)

    engine._sockets[socket.AF_INET] = Counting()  # type: ignore[assignment]
    try:
        reqs = [IcmpRequest(f"t{i}", IcmpSettings(address=a), 1) for i, a in enumerate(loopback(100))]
        results = engine.probe_batch(reqs, deadline=time.monotonic() - 0.001)
    finally:
        engine._sockets[socket.AF_INET] = original
    assert sent == []
    assert {(res.success, res.reason, res.message) for res in results} == {
        (False, r.TIMEOUT, "deadline reached before all packets were sent")
    }


def test_sequence_numbers_wrap_around_the_ones_still_in_flight(engine: IcmpEngine) -> None:
    # Another batch's requests still in flight hold 0xFFF3 and 0x0002; a batch that wraps past
    # them must number its own requests around them, or a reply would be credited to the wrong one.
    other = Job("other", IcmpSettings(address="192.0.2.1"), 1, rtts=[None])
    held = {seq: _Slot("192.0.2.1", other, 0, seq, _Waiter()) for seq in (0xFFF3, 0x0002)}
    engine._pending.update(held)
    engine._seq = 0xFFF0
    reqs = [IcmpRequest(f"t{i}", IcmpSettings(address=a), 1) for i, a in enumerate(loopback(40))]
    results = engine.probe_batch(reqs, deadline=time.monotonic() + 3.0)
    assert [(res.target, res.success) for res in results] == [(f"t{i}", True) for i in range(40)]
    assert engine._pending == held, "a request in flight was overwritten or dropped"
    assert engine._seq == (0xFFF0 + 42) & 0xFFFF, "40 numbers used, two skipped"


def test_parsed_addresses_kept_stay_bounded_as_configurations_change(
    engine: IcmpEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine keeps each address it parsed; a daemon reloaded with other targets for months
    # must not keep every address it ever probed.
    monkeypatch.setattr("probes.icmp._LITERALS_KEPT", 100)
    everyone = loopback(400)
    for k in range(5):
        part = everyone[k * 80 : (k + 1) * 80]
        reqs = [IcmpRequest(f"t{i}", IcmpSettings(address=a), 1) for i, a in enumerate(part)]
        results = engine.probe_batch(reqs, deadline=time.monotonic() + 3.0)
        assert all(res.success for res in results)
        assert len(engine._literals) <= 100 + 80


def test_ipv6_loopback(engine: IcmpEngine) -> None:
    [res] = engine.probe_batch([IcmpRequest("v6", IcmpSettings(address="::1"), 2)], deadline=time.monotonic() + 2)
    assert res.success, res.message
    assert res.values["packets_received"] == 2


def test_silent_lab_host_is_loss_not_misattributed(engine: IcmpEngine, lab) -> None:
    live = lab.add_host()
    silent = lab.add_host()
    silent.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
    reqs = [
        IcmpRequest("live", IcmpSettings(address=live.address), 3),
        IcmpRequest("silent", IcmpSettings(address=silent.address), 3),
        *(IcmpRequest(f"lo{i}", IcmpSettings(address=a), 3) for i, a in enumerate(loopback(50))),
    ]
    t0 = time.monotonic()
    results = {res.target: res for res in engine.probe_batch(reqs, deadline=t0 + 1.0)}
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5, "the batch must end at its deadline"
    assert results["live"].success
    assert results["silent"].success is False
    assert results["silent"].reason == r.TIMEOUT
    assert results["silent"].values["packets_received"] == 0
    assert results["silent"].values["loss_ratio"] == 1.0
    assert all(results[f"lo{i}"].success for i in range(50))


def _responder(host, *args: str):
    host.sysctl("net.ipv4.icmp_echo_ignore_all", "1")
    proc = host.spawn(
        sys.executable,
        os.path.join(os.path.dirname(__file__), "icmp_responder.py"),
        *args,
        "--seconds",
        "30",
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    return proc


def test_partial_loss_reported_as_ratio(engine: IcmpEngine, lab) -> None:
    host = lab.add_host()
    _responder(host, "--drop-every", "2")
    [res] = engine.probe_batch(
        [IcmpRequest("lossy", IcmpSettings(address=host.address, max_loss_ratio=0.6), 4)], deadline=time.monotonic() + 2
    )
    assert res.values["packets_sent"] == 4
    assert res.values["packets_received"] == 2
    assert res.values["loss_ratio"] == 0.5
    assert res.success
    [res] = engine.probe_batch(
        [IcmpRequest("lossy", IcmpSettings(address=host.address, max_loss_ratio=0.25), 4)],
        deadline=time.monotonic() + 2,
    )
    assert not res.success
    assert res.reason == r.LOSS


def test_slow_host_rtt_measured_and_late_replies_are_lost(engine: IcmpEngine, lab) -> None:
    host = lab.add_host()
    _responder(host, "--delay", "0.2")
    [res] = engine.probe_batch(
        [IcmpRequest("slow", IcmpSettings(address=host.address), 1)], deadline=time.monotonic() + 1.5
    )
    assert res.success
    assert 0.19 < res.values["rtt_avg_seconds"] < 0.6
    t0 = time.monotonic()
    [res] = engine.probe_batch([IcmpRequest("slow", IcmpSettings(address=host.address), 1)], deadline=t0 + 0.1)
    assert time.monotonic() - t0 < 0.3
    assert not res.success
    assert res.reason == r.TIMEOUT


def test_missing_privilege_is_reason_permission_not_down() -> None:
    need_root()  # to drop to an unprivileged user first
    code = textwrap.dedent("""
        import time
        from probes.icmp import IcmpSettings
        from tests.probing import on_engine

        res = on_engine("icmp")("gw", IcmpSettings(address="127.0.0.1"), deadline=time.monotonic() + 1)
        print(res.success, res.reason, res.message)
    """)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    # Root without CAP_NET_RAW: what a unit missing AmbientCapabilities would get.
    setpriv = need_binary("setpriv", "util-linux")
    out = subprocess.run(
        [setpriv, "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
        cwd=os.getcwd(),
    )
    assert out.returncode == 0, out.stderr
    success, reason, message = out.stdout.strip().split(" ", 2)
    assert success == "False"
    assert reason == r.PERMISSION
    assert "CAP_NET_RAW" in message


def test_hostname_that_does_not_resolve_is_reason_dns(engine: IcmpEngine) -> None:
    [res] = engine.probe_batch(
        [IcmpRequest("x", IcmpSettings(address="no-such-host.invalid"), 1)], deadline=time.monotonic() + 2
    )
    assert not res.success
    assert res.reason == r.DNS


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(8, 1400))
def test_every_echo_request_carries_the_checksum_ping3_computes(ident: int, seq: int, size: int) -> None:
    # The engine adds each sequence number to a sum made once (RFC 1624); a kernel drops a request
    # whose checksum is wrong without a word, so it must equal ping3's sum over the whole packet.
    packet = icmpwire.echo_request(socket.AF_INET, ident, seq, size)
    header = icmpwire.HEADER.unpack_from(packet)
    assert header == (icmpwire.ECHO_REQUEST_V4, 0, header[2], ident, seq)
    unsummed = icmpwire.HEADER.pack(icmpwire.ECHO_REQUEST_V4, 0, 0, ident, seq) + packet[icmpwire.HEADER.size :]
    assert header[2] == socket.htons(ping3.checksum(unsummed))
    assert ping3.checksum(packet) == 0  # a valid packet sums to all ones
