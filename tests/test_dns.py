"""DNS probe against a real dnsmasq serving a test zone on a loopback address."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from probes import result as r
from probes.dns import DnsSettings, probe
from tests.conftest import free_port, need_binary, need_root


@pytest.fixture(scope="module")
def dnsmasq() -> Iterator[tuple[str, int]]:
    binary = need_binary("dnsmasq", "dnsmasq-base")
    need_root()  # dnsmasq insists on switching user; as root it can
    address, port = "127.0.0.53", free_port("127.0.0.53")
    proc = subprocess.Popen(
        [
            binary,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            f"--listen-address={address}",
            "--bind-interfaces",
            f"--port={port}",
            "--user=root",
            "--local=/zonas.test/",
            "--address=/portal.zonas.test/10.213.0.10",
            "--txt-record=zonas.test,v=spf1 -all",
            "--pid-file=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):  # wait until it answers, bounded
            res = probe(
                "w", DnsSettings(server=address, port=port, name="portal.zonas.test"), deadline=time.monotonic() + 0.2
            )
            if res.success:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield address, port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_answer_expected(dnsmasq: tuple[str, int]) -> None:
    server, port = dnsmasq
    res = probe(
        "dns",
        DnsSettings(server=server, port=port, name="portal.zonas.test", expect_answers=["10.213.0.10"]),
        deadline=time.monotonic() + 2,
    )
    assert res.success, res.message
    assert res.values == {"answers": 1.0, "rcode": 0.0}


def test_answer_mismatch(dnsmasq: tuple[str, int]) -> None:
    server, port = dnsmasq
    res = probe(
        "dns",
        DnsSettings(server=server, port=port, name="portal.zonas.test", expect_answers=["10.213.0.99"]),
        deadline=time.monotonic() + 2,
    )
    assert res.reason == r.ANSWER_MISMATCH
    assert "10.213.0.10" in res.message


def test_nxdomain_and_expected_rcode(dnsmasq: tuple[str, int]) -> None:
    server, port = dnsmasq
    res = probe("dns", DnsSettings(server=server, port=port, name="nope.zonas.test"), deadline=time.monotonic() + 2)
    assert res.reason == r.RCODE
    assert "NXDOMAIN" in res.message
    res = probe(
        "dns",
        DnsSettings(server=server, port=port, name="nope.zonas.test", expect_rcode="NXDOMAIN"),
        deadline=time.monotonic() + 2,
    )
    assert res.success


def test_txt_over_tcp(dnsmasq: tuple[str, int]) -> None:
    server, port = dnsmasq
    res = probe(
        "dns",
        DnsSettings(
            server=server, port=port, name="zonas.test", type="TXT", transport="tcp", expect_answers=['"v=spf1 -all"']
        ),
        deadline=time.monotonic() + 2,
    )
    assert res.success, res.message


def test_no_server_times_out_within_deadline() -> None:
    t0 = time.monotonic()
    res = probe("dns", DnsSettings(server="127.0.0.54", port=free_port(), name="x.test"), deadline=t0 + 0.5)
    assert not res.success
    assert res.reason in (r.TIMEOUT, r.REFUSED)
    assert time.monotonic() - t0 < 1.0


def test_settings_reject_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown record type"):
        DnsSettings(server="127.0.0.1", name="x", type="AAAAX")
