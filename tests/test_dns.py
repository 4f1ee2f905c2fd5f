"""DNS probe against a real dnsmasq serving a test zone on a loopback address."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import pytest

from probes import dnswire
from probes import result as r
from probes.dns import DnsSettings
from tests.conftest import free_port
from tests.probing import on_engine

probe = on_engine("dns")


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


@pytest.mark.parametrize(
    ("domain", "success", "spf", "permissive", "dmarc", "policy"),
    [
        ("seguro.correo.test", True, 1.0, 0.0, 1.0, 2.0),
        ("debil.correo.test", True, 1.0, 1.0, 1.0, 0.0),  # present, yet +all and p=none: findings, not failures
        ("doble.correo.test", False, 0.0, 0.0, 0.0, -1.0),  # two SPF records are a permanent error
        ("solo-texto.correo.test", False, 0.0, 0.0, 0.0, -1.0),  # a TXT record that is not SPF
        ("nadie.correo.test", False, 0.0, 0.0, 0.0, -1.0),  # NXDOMAIN
    ],
)
def test_mail_domain_spf_and_dmarc(
    dnsmasq: tuple[str, int], domain: str, success: bool, spf: float, permissive: float, dmarc: float, policy: float
) -> None:
    from probes import mail

    mail_probe = on_engine("mail")

    server, port = dnsmasq
    res = mail_probe("m", mail.MailSettings(server=server, port=port, domain=domain), deadline=time.monotonic() + 2)
    assert res.success is success, res.message
    assert res.values == {
        "spf_present": spf,
        "spf_permissive": permissive,
        "dmarc_present": dmarc,
        "dmarc_policy": policy,
    }
    if not success:
        assert res.reason == mail.MISSING_RECORD and domain in res.message


def test_mail_resolver_silent() -> None:
    from probes import mail

    mail_probe = on_engine("mail")

    port = free_port("127.0.0.1")
    res = mail_probe(
        "m", mail.MailSettings(server="127.0.0.1", port=port, domain="x.test"), deadline=time.monotonic() + 0.5
    )
    assert not res.success and res.reason in (r.TIMEOUT, r.REFUSED, r.PROTOCOL)


def test_a_truncated_answer_is_asked_again_by_tcp(dnsmasq: tuple[str, int]) -> None:
    """An answer too large for UDP comes truncated; the probe asks again by TCP and judges the
    whole answer, as a resolver does."""
    server, port = dnsmasq
    want = '"' + '" "'.join(c * 200 for c in "abc") + '"'
    res = probe(
        "dns",
        DnsSettings(server=server, port=port, name="grande.zonas.test", type="TXT", expect_answers=[want]),
        deadline=time.monotonic() + 2,
    )
    assert res.success, res.message


def _answers(reply):  # type: ignore[no-untyped-def]
    """A UDP server on loopback answering each query with ``reply(query_wire)``; yields its port."""
    import socket
    import threading
    from contextlib import contextmanager

    @contextmanager
    def serve():  # type: ignore[no-untyped-def]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.1)
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    data, peer = sock.recvfrom(4096)
                except OSError:
                    continue
                sock.sendto(reply(data), peer)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield sock.getsockname()[1]
        finally:
            stop.set()
            thread.join(timeout=5)
            sock.close()

    return serve()


def _forged(query_wire: bytes, *, id_shift: int = 0, name: str | None = None) -> bytes:
    import dns.message
    import dns.rrset

    query = dns.message.from_wire(query_wire)
    if name is not None:
        query = dns.message.make_query(name, "A", id=query.id)
    answer = dns.message.make_response(query)
    answer.id = (answer.id + id_shift) % 65536
    answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "10.213.0.66"))
    return answer.to_wire()


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (lambda q: _forged(q, id_shift=1), "not to the query"),  # another query's ID: stray or spoofed
        (lambda q: _forged(q, name="banco.test"), "not to the query"),  # the right ID, another question
        (lambda q: q[:2] + b"\x81\x80garbage", "unreadable answer"),
    ],
    ids=["wrong_id", "wrong_question", "garbage"],
)
def test_an_answer_that_is_not_to_the_query_fails_with_its_reason(reply, said: str) -> None:  # type: ignore[no-untyped-def]
    """A hotspot or an attacker answering for the resolver: an answer with another ID or another
    question is never taken for the answer, even with the expected records."""
    with _answers(reply) as port:
        res = probe(
            "dns",
            DnsSettings(server="127.0.0.1", port=port, name="portal.zonas.test", expect_answers=["10.213.0.66"]),
            deadline=time.monotonic() + 1,
        )
    assert res.reason == r.PROTOCOL and said in res.message, res.message
    with _answers(_forged) as port:  # the same server, answering the query: believed
        res = probe(
            "dns",
            DnsSettings(server="127.0.0.1", port=port, name="portal.zonas.test", expect_answers=["10.213.0.66"]),
            deadline=time.monotonic() + 1,
        )
    assert res.success, res.message


@pytest.mark.parametrize("recursion", [True, False])
def test_each_query_has_a_fresh_id_and_renders_as_dnspython_would(recursion: bool) -> None:
    # Queries share one rendered question and differ in their ID: a reused ID lets an off-path
    # guesser answer for the server, and a wire form that is not the query's would ask something else.
    queries = [dnswire.query("portal.zonas.test", "MX", recursion=recursion) for _ in range(64)]
    assert len({q.id for q, _wire in queries}) >= 60
    for q, wire in queries[:8]:
        assert wire == q.to_wire()
        parsed = dns.message.from_wire(wire)
        assert parsed.id == q.id and bool(parsed.flags & dns.flags.RD) is recursion
        assert [str(rr) for rr in parsed.question] == ["portal.zonas.test. IN MX"]
        assert q.is_response(dns.message.make_response(parsed))
