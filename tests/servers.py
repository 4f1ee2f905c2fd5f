"""Real servers for the tests: HTTP(S), raw TCP, Prometheus, and certificates made on the fly."""

from __future__ import annotations

import datetime as dt
import json
import socket
import socketserver
import ssl
import subprocess
import threading
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.conftest import free_port


@dataclass
class Pki:
    """A test CA and leaf certificates written under a directory."""

    root: Path
    ca_key: ec.EllipticCurvePrivateKey = field(init=False)
    ca_cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigia test CA")])
        now = dt.datetime.now(dt.UTC)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = self.root / "ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(
        self,
        name: str,
        *,
        dns: list[str] | None = None,
        ips: list[str] | None = None,
        days: float = 90,
        start_days_ago: float = 1,
        self_signed: bool = False,
        rsa_bits: int | None = None,
    ) -> tuple[Path, Path, x509.Certificate]:
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
        )
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in (dns or [])]
        sans += [x509.IPAddress(ip_address(i)) for i in (ips or [])]
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=start_days_ago))
            .not_valid_after(now - dt.timedelta(days=start_days_ago) + dt.timedelta(days=days))
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(key if self_signed else self.ca_key, hashes.SHA256())
        cert_file = self.root / f"{name}.crt"
        key_file = self.root / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file, cert

    def client_context(self, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A TLS client that trusts this CA, presenting ``cert`` (certificate, key) when given."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        return ctx


@contextmanager
def prometheus_server(binary: str, config: Path, tmp: Path, *flags: str) -> Iterator[int]:
    """Debian's Prometheus with ``config`` (and ``flags``) on a free loopback port (TSDB and log under ``tmp``)."""
    port = free_port()
    with open(tmp / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def fast_rules(src: Path, dst: Path) -> Path:
    """A shipped rule file at a test's rhythm: evaluated every second, hold times of 2 s."""
    import yaml

    doc = yaml.safe_load(src.read_text())
    for group in doc["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "2s"
    dst.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    return dst


def prometheus_api(port: int, endpoint: str, **params: object) -> list[dict[str, Any]]:
    """The result list of a Prometheus HTTP API call (query, query_range)."""
    url = f"http://127.0.0.1:{port}/api/v1/{endpoint}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


class _Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no FQDN lookup (a DNS query) at bind
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@dataclass
class HttpServer:
    host: str
    port: int
    seen: list[dict[str, str]]

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"


@contextmanager
def http_server(
    routes: dict[str, Route], host: str = "127.0.0.1", tls: tuple[Path, Path] | None = None
) -> Iterator[HttpServer]:
    """A real HTTP(S) server on a free port; records the headers of every request."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            route = routes.get(self.path.split("?")[0])
            if route is None:
                status, headers, body = 404, {}, b"not found"
            else:
                status, headers, body = route(self)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = _Server((host, 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield HttpServer(host, server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def tcp_server(on_connect: Callable[[socket.socket], None], host: str = "127.0.0.1") -> Iterator[tuple[int, list[int]]]:
    """A TCP server calling ``on_connect`` per connection; yields (port, accepted-count box)."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, 0))
    lsock.listen(64)
    lsock.settimeout(0.1)
    stop = threading.Event()
    accepted = [0]
    conns: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except (TimeoutError, OSError):
                continue
            accepted[0] += 1
            conns.append(conn)
            threading.Thread(target=on_connect, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield lsock.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        lsock.close()
        for c in conns:
            c.close()


@contextmanager
def tls_server(
    cert: Path,
    key: Path,
    host: str = "127.0.0.1",
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
    *,
    weak: bool = False,
) -> Iterator[int]:
    """A TLS server that completes handshakes and closes; yields its port. ``weak``: serve a small key.

    The certificate files are read for every connection, so a test renews a certificate by
    rewriting them, as an administrator would.
    """

    def context() -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if versions or weak:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # old versions and small keys need the old security level
        ctx.load_cert_chain(str(cert), str(key))
        if versions:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # a legacy server is what the test wants
                ctx.minimum_version, ctx.maximum_version = versions
        return ctx

    context()  # a bad certificate fails here, in the test, not in a server thread

    def handle(conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            with context().wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass

    with tcp_server(handle, host) as (port, _):
        yield port


@contextmanager
def peers(host: str = "127.0.0.1", netns: str | None = None) -> Iterator[dict[str, int]]:
    """tests/peers.py in a process of its own (inside ``netns`` when given); yields {kind: port}."""
    import select
    import sys

    from tests.lab import stop

    root = Path(__file__).resolve().parent.parent
    prefix = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "tests.peers", "--host", host],
        stdout=subprocess.PIPE,
        cwd=str(root),
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "tests.peers did not start within 15 s"
        yield json.loads(proc.stdout.readline())
    finally:
        stop(proc)


@contextmanager
def prometheus_scraping(vigia: Any, tmp: Path, scrape_timeout: str = "900ms") -> Iterator[int]:
    """Debian's Prometheus scraping a running ``VigiaProcess`` every second; yields its port once
    vigia is ready and the first scrape is up."""
    from tests.conftest import need_binary

    binary = need_binary("prometheus", "prometheus")
    (tmp / "prometheus.yml").write_text(
        f"global: {{scrape_interval: 1s, scrape_timeout: {scrape_timeout}, evaluation_interval: 1s}}\n"
        "scrape_configs:\n"
        f"  - {{job_name: vigia, static_configs: [{{targets: ['127.0.0.1:{vigia.port}']}}]}}\n"
    )
    with prometheus_server(binary, tmp / "prometheus.yml", tmp) as prom:
        vigia.wait_ready(timeout=30)
        vigia.wait_for(
            lambda: bool(prometheus_api(prom, "query", query='up{job="vigia"} == 1')), timeout=30,
            message="Prometheus to scrape vigia",
        )  # fmt: skip
        yield prom


def scrape_record(prom: int, window: str) -> tuple[float, float, int]:
    """Over the last ``window`` of vigia's scrapes: the lowest ``up``, the slowest scrape, how many."""
    [ups] = prometheus_api(prom, "query", query=f'min_over_time(up{{job="vigia"}}[{window}])')
    [slowest] = prometheus_api(prom, "query", query=f'max_over_time(scrape_duration_seconds{{job="vigia"}}[{window}])')
    [count] = prometheus_api(prom, "query", query=f'count_over_time(up{{job="vigia"}}[{window}])')
    return float(ups["value"][1]), float(slowest["value"][1]), int(count["value"][1])
