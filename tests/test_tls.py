"""TLS probe against real TLS servers with good and bad certificates."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from probes import result as r
from probes.tls import TlsSettings
from tests.conftest import need
from tests.probing import on_engine
from tests.servers import Pki, tls_server

probe = on_engine("tls")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def run(port: int, **kw: object):
    return probe("cert", TlsSettings(host="127.0.0.1", port=port, **kw), deadline=time.monotonic() + 3)


def test_valid_certificate(pki: Pki) -> None:
    cert, key, x = pki.leaf("portal.zonas.test", dns=["portal.zonas.test"], days=60)
    with tls_server(cert, key) as port:
        res = run(port, server_name="portal.zonas.test", ca_file=str(pki.ca_file))
    assert res.success, res.message
    assert res.values["tls_certificate_expiry_timestamp_seconds"] == x.not_valid_after_utc.timestamp()
    assert res.values["tls_name_match"] == 1.0
    assert res.values["tls_verified"] == 1.0
    assert res.labels["issuer"] == "vigia test CA"
    assert res.labels["version"] in ("TLSv1.2", "TLSv1.3")
    assert res.values["tls_key_bits"] == 256


def test_expired_certificate_still_reports_its_dates(pki: Pki) -> None:
    cert, key, x = pki.leaf("old.zonas.test", dns=["old.zonas.test"], days=10, start_days_ago=20)
    with tls_server(cert, key) as port:
        res = run(port, server_name="old.zonas.test", ca_file=str(pki.ca_file))
    assert not res.success
    assert res.reason == r.CERT_EXPIRED
    assert res.values["tls_certificate_expiry_timestamp_seconds"] == x.not_valid_after_utc.timestamp()
    assert res.values["tls_certificate_expiry_timestamp_seconds"] < time.time()
    assert res.values["tls_verified"] == 0.0


def test_self_signed(pki: Pki) -> None:
    cert, key, _ = pki.leaf("selfie.zonas.test", dns=["selfie.zonas.test"], self_signed=True)
    with tls_server(cert, key) as port:
        res = run(port, server_name="selfie.zonas.test", ca_file=str(pki.ca_file))
    assert res.reason == r.CERT_UNTRUSTED
    assert "self" in res.message.lower()
    assert res.labels["issuer"] == "selfie.zonas.test"
    assert res.values["tls_name_match"] == 1.0


def test_wrong_name(pki: Pki) -> None:
    cert, key, _ = pki.leaf("other.zonas.test", dns=["other.zonas.test"])
    with tls_server(cert, key) as port:
        res = run(port, server_name="portal.zonas.test", ca_file=str(pki.ca_file))
    assert res.reason == r.CERT_NAME_MISMATCH
    assert res.values["tls_name_match"] == 0.0


def test_wildcard_name_match(pki: Pki) -> None:
    cert, key, _ = pki.leaf("wild", dns=["*.zonas.test"])
    with tls_server(cert, key) as port:
        assert run(port, server_name="zd-01.zonas.test", ca_file=str(pki.ca_file)).success
        res = run(port, server_name="a.b.zonas.test", ca_file=str(pki.ca_file))
    assert res.reason == r.CERT_NAME_MISMATCH


def test_not_tls_at_all() -> None:
    from tests.servers import tcp_server

    with tcp_server(lambda c: c.sendall(b"220 smtp ready\r\n" * 10)) as (port, _):
        res = run(port)
    assert not res.success
    assert res.reason == r.TLS


def test_legacy_protocols_accepted_or_not(pki: Pki) -> None:
    import ssl
    import warnings

    cert, key, _ = pki.leaf("legacy", ips=["127.0.0.1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2)
    with tls_server(cert, key, versions=old) as port:
        res = run(port, ca_file=str(pki.ca_file), check_legacy=True)
    assert res.success, res.message
    need(
        res.values.get("tls_accepts_tls10") is not None,
        "this machine's OpenSSL cannot even attempt a TLS 1.0 handshake",
    )
    assert res.values["tls_accepts_tls10"] == 1.0 and res.values["tls_accepts_tls11"] == 1.0
    modern_cert, modern_key, _ = pki.leaf("modern", ips=["127.0.0.1"])
    with tls_server(modern_cert, modern_key, versions=(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)) as port:
        res = run(port, ca_file=str(pki.ca_file), check_legacy=True)
    assert res.values["tls_accepts_tls10"] == 0.0 and res.values["tls_accepts_tls11"] == 0.0
