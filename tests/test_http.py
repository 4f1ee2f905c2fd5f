"""HTTP probe against real HTTP(S) servers started by the tests."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from probes import result as r
from probes.http import BasicAuth, HttpSettings
from probes.settings import Secret
from tests.probing import on_engine
from tests.servers import Pki, http_server

probe = on_engine("http")


def ok(body: bytes = b"portal cautivo OK"):
    return lambda _h: (200, {"Content-Type": "text/html"}, body)


def redirect(to: str, status: int = 302):
    return lambda _h: (status, {"Location": to}, b"")


def run(settings: HttpSettings, timeout: float = 3.0):
    return probe("web", settings, deadline=time.monotonic() + timeout)


def test_status_latency_and_body_regex() -> None:
    with http_server({"/": ok()}) as srv:
        res = run(HttpSettings(url=srv.url("/"), body_regex="portal cautivo"))
        assert res.success, res.message
        assert res.values["status_code"] == 200
        assert res.values["content_length_bytes"] == len(b"portal cautivo OK")
        assert res.duration < 1
        res = run(HttpSettings(url=srv.url("/"), body_regex="^Bienvenido"))
        assert res.reason == r.BODY_MISMATCH
        res = run(HttpSettings(url=srv.url("/"), body_not_regex="OK"))
        assert res.reason == r.BODY_MISMATCH


def test_status_codes() -> None:
    with http_server({"/gone": lambda _h: (503, {}, b"down")}) as srv:
        res = run(HttpSettings(url=srv.url("/gone")))
        assert not res.success and res.reason == r.HTTP_STATUS
        assert res.values["status_code"] == 503
        assert run(HttpSettings(url=srv.url("/gone"), valid_status_codes=[503])).success


def test_redirects_followed_and_capped() -> None:
    routes = {"/a": redirect("/b"), "/b": redirect("/c", 301), "/c": ok()}
    with http_server(routes) as srv:
        res = run(HttpSettings(url=srv.url("/a")))
        assert res.success, res.message
        assert res.values["redirects"] == 2
        res = run(HttpSettings(url=srv.url("/a"), max_redirects=1))
        assert res.reason == r.REDIRECT
        res = run(HttpSettings(url=srv.url("/a"), follow_redirects=False, valid_status_codes=[302]))
        assert res.success and res.values["status_code"] == 302


def test_redirect_loop_is_capped() -> None:
    with http_server({"/loop": redirect("/loop")}) as srv:
        res = run(HttpSettings(url=srv.url("/loop"), max_redirects=5))
        assert res.reason == r.REDIRECT
        assert len(srv.seen) == 6


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/file", "file:///etc/passwd", "gopher://127.0.0.1/"])
def test_never_follows_to_a_non_http_scheme(target: str) -> None:
    with http_server({"/": redirect(target)}) as srv:
        res = run(HttpSettings(url=srv.url("/")))
        assert not res.success
        assert res.reason == r.REDIRECT
        assert "non-http" in res.message


def test_response_size_capped() -> None:
    with http_server({"/big": ok(b"x" * 100_000)}) as srv:
        res = run(HttpSettings(url=srv.url("/big"), max_body_bytes=10_000))
        assert res.reason == r.TOO_LARGE
        assert run(HttpSettings(url=srv.url("/big"), max_body_bytes=200_000)).success


def test_credentials_only_to_the_configured_host(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3creto\n")
    auth = BasicAuth(username="noc", password=Secret(file=str(secret)))
    with (
        http_server({"/landing": ok()}, host="127.0.0.2") as other,
        http_server({"/login": redirect(other.url("/landing")), "/here": redirect("/final"), "/final": ok()}) as home,
    ):
        res = run(HttpSettings(url=home.url("/login"), basic_auth=auth))
        assert res.success, res.message
        assert home.seen[0]["authorization"].startswith("Basic ")
        assert "authorization" not in other.seen[0]
        res = run(HttpSettings(url=home.url("/here"), basic_auth=auth))
        assert res.success
        assert all("authorization" in s for s in home.seen[1:])
        # A rotated password is what the next check sends (the request's head is kept between
        # checks of the same URL; its credentials never are), and no check sends the old one.
        secret.write_text("n0evo\n")
        seen = len(home.seen)
        assert run(HttpSettings(url=home.url("/here"), basic_auth=auth)).success
        assert {s["authorization"] for s in home.seen[seen:]} == {"Basic " + base64.b64encode(b"noc:n0evo").decode()}


def test_tls_verification(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    cert, key, _ = pki.leaf("portal", ips=["127.0.0.1"])
    with http_server({"/": ok()}, tls=(cert, key)) as srv:
        url = srv.url("/", scheme="https")
        res = run(HttpSettings(url=url))
        assert not res.success and res.reason == r.CERT_UNTRUSTED
        res = run(HttpSettings(url=url, ca_file=str(pki.ca_file)))
        assert res.success, res.message
        assert res.values["tls_certificate_expiry_timestamp_seconds"] > time.time() + 80 * 86400
        assert run(HttpSettings(url=url, tls_verify=False)).success


def test_refused_and_timeout() -> None:
    from tests.conftest import free_port
    from tests.servers import tcp_server

    res = run(HttpSettings(url=f"http://127.0.0.1:{free_port()}/"))
    assert res.reason == r.REFUSED
    with tcp_server(lambda c: time.sleep(3)) as (port, _):
        t0 = time.monotonic()
        res = run(HttpSettings(url=f"http://127.0.0.1:{port}/"), timeout=0.5)
        assert res.reason == r.TIMEOUT
        assert time.monotonic() - t0 < 1.0


def test_slow_drip_response_is_cut_at_the_deadline() -> None:
    import socket

    def drip(conn: socket.socket) -> None:
        try:
            conn.recv(1000)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(40):
                conn.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            pass

    from tests.servers import tcp_server

    with tcp_server(drip) as (port, _):
        t0 = time.monotonic()
        res = run(HttpSettings(url=f"http://127.0.0.1:{port}/"), timeout=0.5)
        assert res.reason == r.TIMEOUT, res
        assert time.monotonic() - t0 < 1.0


def test_inline_secret_headers_refused() -> None:
    with pytest.raises(ValueError, match="carries a secret"):
        HttpSettings(url="http://127.0.0.1/", headers={"Authorization": "Basic eA=="})


def test_security_headers_and_version_banner() -> None:
    hardened = {
        "Strict-Transport-Security": "max-age=31536000",
        "Content-Security-Policy": "default-src 'self'",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    with http_server(
        {"/ok": lambda _h: (200, hardened, b"x"), "/bare": lambda _h: (200, {"X-Powered-By": "PHP/7.4.3"}, b"x")}
    ) as srv:
        res = run(HttpSettings(url=srv.url("/ok"), check_security_headers=True))
        assert res.success
        assert all(
            res.values[f"header_{h}"] == 1.0
            for h in (
                "strict_transport_security",
                "content_security_policy",
                "x_content_type_options",
                "x_frame_options",
                "referrer_policy",
            )
        )
        bare = run(HttpSettings(url=srv.url("/bare"), check_security_headers=True))
    assert bare.values["header_strict_transport_security"] == 0.0
    assert bare.values["header_content_security_policy"] == 0.0
    # Python's test server says "BaseHTTP/0.6 Python/3.x" and the app adds PHP/7.4.3: versions revealed.
    assert bare.values["server_banner_reveals_version"] == 1.0
    assert "PHP/7.4.3" in bare.labels["server"]


def test_phases_are_timed_apart_like_blackbox_exporter(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    cert, key, _ = pki.leaf("localhost", dns=["localhost"])

    def slow(_h: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.2)  # the server thinks before it answers: "processing"
        return 200, {}, b"ok"

    with http_server({"/slow": slow}, tls=(cert, key)) as srv:
        # A name, not an address: the resolve phase is real work here.
        res = run(HttpSettings(url=f"https://localhost:{srv.port}/slow", ca_file=str(pki.ca_file)))
    assert res.success, res.message
    phases = {p: res.values[f"phase_{p}_seconds"] for p in ("resolve", "connect", "tls", "processing", "transfer")}
    assert phases["resolve"] > 0 and phases["connect"] > 0 and phases["tls"] > 0
    assert 0.2 <= phases["processing"] < 1.0
    assert sum(phases.values()) <= res.duration + 0.001
    # Exposed as one family with a phase label, as blackbox_exporter's probe_http_duration_seconds.
    from probes.http import METRICS

    specs = [m for m in METRICS if m.metric == "http_duration_seconds"]
    assert sorted(dict(m.const_labels)["phase"] for m in specs) == sorted(phases)


def test_a_download_is_measured_in_bytes_per_second_and_bounded() -> None:
    """The zone agent's throughput test: a body of a few MB read to its end, its speed measured over
    the transfer (in bytes, as Prometheus' base units want); a body past max_body_bytes is refused."""
    body = bytes(3_000_000)
    with http_server({"/blob": ok(body)}) as srv:
        res = run(HttpSettings(url=srv.url("/blob"), max_body_bytes=len(body)), timeout=10.0)
        assert res.success, res.message
        assert res.values["content_length_bytes"] == len(body)
        transfer = res.values["phase_transfer_seconds"]
        assert transfer > 0 and res.values["throughput_bytes_per_second"] == pytest.approx(len(body) / transfer)
        res = run(HttpSettings(url=srv.url("/blob"), max_body_bytes=len(body) - 1), timeout=10.0)
        assert res.reason == r.TOO_LARGE


RAW = {
    # name: (bytes the server answers before it closes, the reason expected ("": a success))
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhola \r\n5\r\nzona!\r\n0\r\n\r\n", ""),
    "ends_at_close": (b"HTTP/1.1 200 OK\r\n\r\nhola zona!", ""),
    "after_100_continue": (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhola zona!", ""),
    "cut_short": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhola zona!", r.PROTOCOL),
    "cut_chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhola ", r.PROTOCOL),
    "not_http": (b"SSH-2.0-OpenSSH_9.2p1\r\n", r.PROTOCOL),
    "silence_then_close": (b"", r.PROTOCOL),
    "smuggled_length": (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 12\r\n\r\nhola zona!!!", r.PROTOCOL),
}


@pytest.mark.parametrize("name", sorted(RAW))
def test_answers_are_framed_as_http_says(name: str) -> None:
    """Every way an HTTP/1.1 answer is framed (length, chunks, the connection's end, an
    informational answer first) is read whole; an answer cut short, two lengths or not HTTP at all
    is a protocol failure, never a success on half a page."""
    import socket

    from tests.servers import tcp_server

    answer, reason = RAW[name]

    def serve(conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(answer)
            conn.shutdown(socket.SHUT_WR)  # the answer's end, as a server that closes says it
        except OSError:
            pass

    with tcp_server(serve) as (port, _):
        res = run(HttpSettings(url=f"http://127.0.0.1:{port}/", body_regex="hola zona!$"))
    assert res.reason == reason, res.message
    if not reason:
        assert res.values["content_length_bytes"] == 10


def test_head_reads_the_head_alone_and_odd_redirects_are_encoded() -> None:
    """HEAD is answered with a length and no body: done at its head, not at the deadline. A
    redirect to a Location with spaces and accents is requested percent-encoded, as browsers do."""
    seen: list[str] = []

    def landing(h):
        seen.append(h.path)
        return 200, {}, b"ok"

    encoded = "/bienvenida%20a%20Cartagena/se%C3%B1al"
    with http_server({"/x": redirect("/bienvenida a Cartagena/señal"), encoded: landing}) as srv:
        t0 = time.monotonic()
        res = run(HttpSettings(url=srv.url("/x"), method="HEAD"), timeout=3.0)
        assert res.success and time.monotonic() - t0 < 1.0, res.message
        assert run(HttpSettings(url=srv.url("/x"))).success
    assert seen == [encoded] * 2


@pytest.mark.parametrize("headers", [{"X-A\r\nB": "1"}, {"X-Zona": "1\r\nHost: otro"}, {"": "1"}])
def test_a_header_that_would_split_the_request_is_refused(headers: dict[str, str]) -> None:
    from kernel.spec import SpecError, convert

    with pytest.raises(SpecError, match="headers"):
        convert(HttpSettings, {"url": "http://127.0.0.1/", "headers": headers})
