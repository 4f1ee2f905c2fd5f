"""The daemon's HTTP endpoints: /metrics, /-/healthy, /-/ready and a landing page.

Nothing in a request chooses a target, a file or a command: the paths are a
fixed table, only GET and HEAD are answered, and /metrics serves a cached body.
TLS, basic auth and extra headers come from the web config (monitor/webconfig.py);
the TLS handshake runs in the connection's own thread so a slow client holds
nothing but itself.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.api import CONTENT_TYPE as API_TYPE
from monitor.api import PREFIX as API_PREFIX
from monitor.api import Api
from monitor.metrics import CONTENT_TYPE, Exposition
from monitor.webconfig import HANDSHAKE_TIMEOUT, WebGuard

log = logging.getLogger(__name__)

# Open connections served at once (one thread each); more are closed at once and counted.
DEFAULT_MAX_CONNECTIONS = 256

LANDING = b"""<!doctype html><html><head><meta charset="utf-8"><title>vigia</title></head>
<body><h1>vigia</h1><p>IT operations and continuity monitoring.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li></ul></body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    guard: WebGuard
    max_connections = DEFAULT_MAX_CONNECTIONS

    def server_activate(self) -> None:
        self.active = 0
        self.rejected = 0  # connections closed at once because max_connections were open
        self._count = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, so a cap on connections is a cap on threads.
        with self._count:
            full = self.active >= self.max_connections
            if full:
                self.rejected += 1
            else:
                self.active += 1
        if full:
            log.debug("connection from %s refused: %d connections open", client_address[0], self.max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            with self._count:
                self.active -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count:
                self.active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-response is ordinary: one line at debug, never a traceback
        # on stderr that any client could repeat to flood the log.
        log.debug("connection from %s ended early: %s", client_address[0], sys.exc_info()[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        settings = self.guard.current()
        if settings is None or settings.context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = settings.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            if not settings.san_allowed(conn.getpeercert()):
                log.info("TLS client %s refused: no allowed SAN in its certificate", client_address[0])
                return
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the listen address to a FQDN: a DNS query at start-up
        # that can stall the daemon for seconds when the resolver is away, for a name never used.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class FixedHandler(BaseHTTPRequestHandler):
    """What vigia's handlers share: GET and HEAD answered by ``_answer``, every other method 405,
    HTTP/1.1 keep-alive with an idle timeout, and access lines at debug level only."""

    server_version = "vigia"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle or trickling client is dropped, its thread freed
    # Headers and body leave in two writes: with Nagle's algorithm the body waited for the client's
    # delayed ACK, 40 ms per keep-alive request (357 requests a second on the status page).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        raise NotImplementedError

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str], send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _refuse(self) -> None:
        self._send(405, b"method not allowed\n", "text/plain", {"Allow": "GET, HEAD"}, True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def __getattr__(self, name: str) -> Any:
        # Any other method (QUERY, PROPFIND, made-up ones) is refused alike: 405, never a 501 page.
        if name.startswith("do_"):
            return self._refuse
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s %s", self.address_string(), format % args)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class Listener:
    """A threaded HTTP listener: one thread per connection, at most ``max_connections`` of them,
    TLS and basic auth from ``guard``; subclasses give the handler (a fixed table of paths)."""

    name = "http"

    def __init__(
        self, listen: str, guard: WebGuard | None = None, *, max_connections: int = DEFAULT_MAX_CONNECTIONS
    ) -> None:
        host, port = parse_listen(listen)
        self.guard = guard or WebGuard(None)
        server_cls: type[_Server] = _Server
        if ":" in host:

            class _V6(_Server):
                address_family = socket.AF_INET6

            server_cls = _V6
        self.httpd = server_cls((host, port), self._handler_class())
        self.httpd.guard = self.guard
        self.httpd.max_connections = max_connections
        self.address = self.httpd.server_address
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name=self.name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.address[1])

    @property
    def rejected(self) -> int:
        return int(self.httpd.rejected)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError


class MetricsServer(Listener):
    def __init__(
        self,
        listen: str,
        exposition: Exposition,
        ready: Callable[[], bool],
        guard: WebGuard | None = None,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        api: Api | None = None,
    ) -> None:
        self.exposition = exposition
        self.ready = ready
        self.api = api
        super().__init__(listen, guard, max_connections=max_connections)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(FixedHandler):
            def _answer(self, *, send_body: bool) -> None:
                settings = server.guard.current()
                headers: dict[str, str] = dict(settings.headers) if settings is not None else {}
                if settings is not None and settings.limiter is not None and not settings.limiter.allow():
                    self._send(429, b"too many requests\n", "text/plain", headers, send_body)
                    return
                if not server.guard.authorized(settings, self.headers.get("Authorization")):
                    headers["WWW-Authenticate"] = 'Basic realm="vigia"'
                    self._send(401, b"unauthorized\n", "text/plain", headers, send_body)
                    return
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    gz = "gzip" in self.headers.get("Accept-Encoding", "")
                    body = server.exposition.body(gzipped=gz)
                    if not body:
                        status, body, ctype = 503, b"no probe cycle has finished yet\n", "text/plain"
                    else:
                        status, ctype = 200, CONTENT_TYPE
                        if gz:
                            headers["Content-Encoding"] = "gzip"
                elif path == "/-/healthy":
                    status, body, ctype = 200, b"OK\n", "text/plain"
                elif path == "/-/ready":
                    ok = server.ready()
                    status = 200 if ok else 503
                    body = b"Ready\n" if ok else b"not ready: waiting for the first probe cycle\n"
                    ctype = "text/plain"
                elif path.startswith(API_PREFIX) and server.api is not None:
                    doc = server.api.document(path)
                    status, body, ctype = (200, doc, API_TYPE) if doc else (404, b"not found\n", "text/plain")
                elif path == "/":
                    status, body, ctype = 200, LANDING, "text/html; charset=utf-8"
                else:
                    status, body, ctype = 404, b"not found\n", "text/plain"
                self._send(status, body, ctype, headers, send_body)

        return Handler
