"""vigia's HTTP listeners: one asyncio loop per listener, no thread per connection.

Nothing in a request chooses a target, a file or a command: the paths are a fixed table, only GET
and HEAD are answered, and the answers come from caches. TLS, basic auth and extra headers come
from the web config (monitor.web.webconfig), re-read at each connection so a renewed certificate is
served without a restart.

What a hostile or broken client can cost, and why the listener stays up for Prometheus:

- an idle or trickling connection costs a socket and a few hundred bytes, never a thread (a
  threaded server gave every scrape a refusal once 256 slow connections were open);
- the whole request head, TLS handshake included, must arrive within ``HEAD_TIMEOUT`` of the
  connection (or of the request's first byte, between keep-alive requests), and be at most
  ``MAX_HEAD`` bytes: a slowloris client is dropped at its deadline however it trickles;
- at ``max_per_client`` connections from one address, or ``max_connections`` in all, a new
  connection pushes out the one that has waited longest for a request head (as nginx reuses its
  idle keep-alive connections), so a flood of idle connections never locks a scraper out; only
  when every connection is busy answering is the new one closed;
- a client that does not read its answer is dropped after ``WRITE_TIMEOUT``;
- a request whose Basic credentials are not cached yet (a bcrypt check, slow by design) is
  answered on a thread of its own, so a flood of wrong passwords delays no other request.

Each refusal and drop is counted by listener and reason (``vigia_http_connections_rejected_total``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit

import httptools

from monitor.runtime.stats import ListenerCounts
from monitor.web.api import CONTENT_TYPE as API_TYPE
from monitor.web.api import PREFIX as API_PREFIX
from monitor.web.api import Api
from monitor.web.exposition import CONTENT_TYPE, Exposition
from monitor.web.webconfig import WebGuard

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_PER_CLIENT = 64
# The request head (and the TLS handshake before it) from the connection or the request's first byte.
HEAD_TIMEOUT = 10.0
# Between keep-alive requests (Prometheus scrapes every 15 to 60 s and reconnects when this passed).
IDLE_TIMEOUT = 30.0
# A client that does not take its answer.
WRITE_TIMEOUT = 30.0
MAX_HEAD = 16 * 1024
# Connections the kernel queues before they are accepted (capped by net.core.somaxconn): under a
# flood of reconnects a short queue drops a scraper's SYN, which it resends only a second later.
BACKLOG = 4096
MAX_HEADERS = 100

LANDING = b"""<!doctype html><html><head><meta charset="utf-8"><title>vigia</title></head>
<body><h1>vigia</h1><p>IT operations and continuity monitoring.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li></ul></body></html>
"""


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # as sent: path and query
    headers: Mapping[str, str]  # names in lower case; a repeated header keeps its last value
    client: str
    keep_alive: bool = True

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


def text(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, body, "text/plain; charset=utf-8", headers or {})


METHOD_NOT_ALLOWED = text(405, b"method not allowed\n", {"Allow": "GET, HEAD"})


class Handler:
    """A listener's answers: a fixed table of paths, GET and HEAD only. ``answer`` must be quick
    (it runs on the listener's loop) unless ``slow`` says otherwise for a request."""

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def slow(self, request: Request) -> bool:
        return False

    def tls(self) -> tuple[ssl.SSLContext, Callable[[dict[str, object] | None], bool]] | None:
        """The TLS context for a new connection and the check of the client's certificate, or None."""
        return None


class _Connection(asyncio.Protocol):
    """One client: its parser, its deadline, and the requests it has sent (answered in order)."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.client = "?"
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Request | Response] = deque()  # a Response: the answer to a refused request
        self.busy = False  # a request is being answered
        self.closing = False
        self.writable = True
        self.handshaking = False
        self.idle = False  # between keep-alive requests: the next request's first byte starts its deadline
        self.timer: asyncio.TimerHandle | None = None
        # The request being parsed.
        self._url = bytearray()
        self._headers: dict[str, str] = {}
        self._head_bytes = 0
        self._head_size = 0
        self._in_head = False
        self._refused: Response | None = None
        self._early = b""

    # -- asyncio callbacks ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if peer else "?"
        if not self.server.admit(self):
            return
        self.server.wait(self)
        # The first request's head, TLS handshake included, is due within HEAD_TIMEOUT of the accept.
        self._deadline(HEAD_TIMEOUT, "head_timeout")
        tls = self.server.handler.tls()
        if tls is not None:
            transport.pause_reading()  # the ClientHello waits for the TLS layer
            self.handshaking = True
            self.loop.create_task(self._start_tls(*tls))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self._cancel_timer()
        self.server.forget(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.handshaking:
            # Decrypted bytes can arrive before start_tls hands the TLS transport over: kept until
            # then, so that no answer goes out on the raw socket.
            self._early += data
            return
        self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._refuse(METHOD_NOT_ALLOWED, None)
            return
        except httptools.HttpParserError:
            if self._refused is not None:
                self._refuse(self._refused, None)
            else:
                self._refuse(text(400, b"bad request\n"), "bad_request")
            return
        if self._in_head and self._head_bytes > MAX_HEAD:
            self._refuse(text(431, b"request head too large\n"), "head_too_large")
            return
        self._next()

    def pause_writing(self) -> None:
        self.writable = False
        self._deadline(WRITE_TIMEOUT, "write_timeout")

    def resume_writing(self) -> None:
        self.writable = True
        self._cancel_timer()
        self._next()

    # -- parser callbacks (httptools) ----------------------------------------------

    def on_message_begin(self) -> None:
        self._url.clear()
        self._headers = {}
        self._head_size = 0
        self._in_head = True
        if self.idle:
            # The first byte of a keep-alive request: from now on its head has HEAD_TIMEOUT.
            self.idle = False
            self._deadline(HEAD_TIMEOUT, "head_timeout")

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # A head that arrived whole in one read is measured here (a trickled one in data_received).
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD:
            self._refused = text(431, b"request head too large\n")
            self.server.counts.reject("head_too_large")
            raise ValueError("head too large")  # stops the parser: feed_data raises HttpParserCallbackError
        if len(self._headers) >= MAX_HEADERS:
            self._refused = text(431, b"too many header fields\n")
            self.server.counts.reject("head_too_large")
            raise ValueError("too many headers")
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        method = self.parser.get_method().decode("ascii", "replace")
        if self._head_size > MAX_HEAD:  # a request line of kilobytes and no header
            self._refused = text(414, b"request target too long\n")
            self.server.counts.reject("head_too_large")
            raise ValueError("target too long")
        if method not in ("GET", "HEAD"):
            # Answered at once, its body never read: the connection closes after the answer.
            self._refused = METHOD_NOT_ALLOWED
            raise ValueError("method refused")  # stops the parser: feed_data raises HttpParserCallbackError
        target = self._url.decode("latin-1")
        if not target.startswith("/"):
            self._refused = text(400, b"bad request target\n")
            raise ValueError("bad target")
        self.queue.append(Request(method, target, self._headers, self.client, self.parser.should_keep_alive()))
        self.server.unwait(self)

    # -- answering -------------------------------------------------------------------

    def _next(self) -> None:
        """Answer the next queued request, unless one is being answered or the client is not
        reading; with nothing to do, wait for the next request (keep-alive) up to IDLE_TIMEOUT."""
        if self.closing or self.busy or not self.writable:
            return
        if not self.queue:
            if self.timer is None and self._in_head:
                self._deadline(HEAD_TIMEOUT, "head_timeout")  # a pipelined head begun while answering
            elif self.timer is None and not self.idle:
                self.idle = True
                self.server.wait(self)
                self._deadline(IDLE_TIMEOUT, None)
            return
        self._cancel_timer()
        item = self.queue.popleft()
        if isinstance(item, Response):
            self._send(item, send_body=True, keep_alive=False)
            return
        self.busy = True
        handler = self.server.handler
        if handler.slow(item):
            future = self.loop.run_in_executor(self.server.slow, handler.answer, item)
            future.add_done_callback(functools.partial(self._answered, item))
            return
        try:
            response = handler.answer(item)
        except Exception:
            log.exception("error answering %s %s", item.method, item.path)
            response = text(500, b"internal error\n")
        self._reply(item, response)

    def _answered(self, request: Request, future: asyncio.Future[Response]) -> None:
        try:
            response = future.result()
        except Exception:
            log.exception("error answering %s %s", request.method, request.path)
            response = text(500, b"internal error\n")
        self._reply(request, response)

    def _reply(self, request: Request, response: Response) -> None:
        self.busy = False
        if self.closing:
            return
        self._send(response, send_body=request.method != "HEAD", keep_alive=request.keep_alive)
        log.debug("http %s %s %s %d", self.client, request.method, request.target[:200], response.status)
        self._next()

    def _send(self, response: Response, *, send_body: bool, keep_alive: bool) -> None:
        assert self.transport is not None
        status = HTTPStatus(response.status)
        lines = [f"HTTP/1.1 {status.value} {status.phrase}", "Server: vigia", f"Date: {formatdate(usegmt=True)}",
                 f"Content-Type: {response.content_type}"]  # fmt: skip
        if status.value != 304:
            lines.append(f"Content-Length: {len(response.body)}")
        lines += [f"{k}: {v}" for k, v in response.headers.items()]
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.transport.write(head + response.body if send_body and status.value != 304 else head)
        if not keep_alive:
            self.close()

    def _refuse(self, response: Response, reason: str | None) -> None:
        """A request that cannot be parsed or is refused: answered (after the one being answered,
        if any, which then closes the connection) and closed."""
        if reason is not None:
            self.server.counts.reject(reason)
        self.queue.clear()
        self.queue.append(response)
        self.server.unwait(self)
        self._in_head = False
        if self.transport is not None and not self.closing:
            self.transport.pause_reading()  # nothing more is read from a connection about to close
        self._next()

    # -- deadlines and closing -------------------------------------------------------

    def _deadline(self, seconds: float, reason: str | None) -> None:
        self._cancel_timer()
        self.timer = self.loop.call_later(seconds, self._expired, reason)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self, reason: str | None) -> None:
        self.timer = None
        if self.closing:
            return
        if reason is not None:
            self.server.counts.reject(reason)
            log.debug("connection from %s dropped: %s", self.client, reason)
        self.abort()

    def close(self) -> None:
        self.closing = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    async def _start_tls(self, context: ssl.SSLContext, allowed: Callable[[dict[str, object] | None], bool]) -> None:
        assert self.transport is not None
        try:
            transport = await self.loop.start_tls(
                self.transport, self, context, server_side=True, ssl_handshake_timeout=HEAD_TIMEOUT
            )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            if not self.closing:  # not already dropped at the head's deadline
                self.server.counts.reject("tls")
                log.debug("TLS handshake with %s failed: %s", self.client, exc)
                self.abort()
            return
        if transport is None or self.closing:
            return
        self.transport = transport
        self.handshaking = False
        if not allowed(transport.get_extra_info("peercert")):
            self.server.counts.reject("tls")
            log.info("TLS client %s refused: no allowed SAN in its certificate", self.client)
            self.close()
            return
        early, self._early = self._early, b""
        if early:
            self.data_received(early)


class _Server:
    """The connections of one listener, its caps, and the thread its asyncio loop runs on.

    Connections waiting for a request head are kept in the order they began waiting, in all and
    by client, so that the one to push out at a cap is found at once: an attacker reconnecting as
    fast as it is pushed out makes thousands of these choices a second."""

    def __init__(self, handler: Handler, counts: ListenerCounts, max_connections: int, max_per_client: int) -> None:
        self.handler = handler
        self.counts = counts
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.loop = asyncio.new_event_loop()
        self.connections: set[_Connection] = set()
        self.by_client: dict[str, set[_Connection]] = {}
        self.waiting: OrderedDict[_Connection, None] = OrderedDict()
        self.waiting_by_client: dict[str, OrderedDict[_Connection, None]] = {}
        self.slow = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{counts.name}-auth")

    def admit(self, conn: _Connection) -> bool:
        """Make room for ``conn`` (pushing out the longest-waiting connection of its client, or of
        all, at a cap), or close it when every connection is busy; whether it was admitted."""
        client = conn.client
        for pool, waiting, cap, reason in (
            (self.by_client.get(client, ()), self.waiting_by_client.get(client), self.max_per_client, "per_client"),
            (self.connections, self.waiting, self.max_connections, "full"),
        ):
            if len(pool) < cap:
                continue
            self.counts.reject(reason)
            if not waiting:
                log.debug("connection from %s refused: %s", client, reason)
                conn.abort()
                return False
            oldest = next(iter(waiting))
            log.debug("connection from %s pushed out (%s)", oldest.client, reason)
            oldest.abort()
            self.forget(oldest)
        self.connections.add(conn)
        self.by_client.setdefault(client, set()).add(conn)
        self.counts.open = len(self.connections)
        return True

    def wait(self, conn: _Connection) -> None:
        """``conn`` begins waiting for a request head: the newest candidate to push out."""
        if conn in self.connections:
            self.waiting[conn] = None
            self.waiting.move_to_end(conn)
            mine = self.waiting_by_client.setdefault(conn.client, OrderedDict())
            mine[conn] = None
            mine.move_to_end(conn)

    def unwait(self, conn: _Connection) -> None:
        self.waiting.pop(conn, None)
        mine = self.waiting_by_client.get(conn.client)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.waiting_by_client[conn.client]

    def forget(self, conn: _Connection) -> None:
        self.unwait(conn)
        self.connections.discard(conn)
        mine = self.by_client.get(conn.client)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.by_client[conn.client]
        self.counts.open = len(self.connections)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class Listener:
    """An HTTP listener on its own thread and asyncio loop, answering with ``handler``."""

    name = "http"

    def __init__(
        self,
        listen: str,
        handler: Handler,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    ) -> None:
        host, port = parse_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, so that a port taken or an address not on this host fails the start at once.
        self.sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
        self.address = self.sock.getsockname()
        self.counts = ListenerCounts(self.name)
        self._server = _Server(handler, self.counts, max_connections, max_per_client)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._ready = threading.Event()

    @property
    def port(self) -> int:
        return int(self.address[1])

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5.0)

    def _run(self) -> None:
        loop = self._server.loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            loop.create_server(lambda: _Connection(self._server), sock=self.sock, backlog=BACKLOG)
        )
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for conn in list(self._server.connections):
                conn.abort()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self) -> None:
        loop = self._server.loop
        if self._thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
        else:
            self.sock.close()
        self._server.slow.shutdown(wait=False, cancel_futures=True)


class MetricsHandler(Handler):
    """The main listener: /metrics, the health endpoints, the API and a landing page, behind the
    web config's TLS, basic auth and rate limit."""

    def __init__(self, exposition: Exposition, ready: Callable[[], bool], guard: WebGuard, api: Api | None) -> None:
        self.exposition, self.ready, self.guard, self.api = exposition, ready, guard, api

    def tls(self) -> tuple[ssl.SSLContext, Callable[[dict[str, object] | None], bool]] | None:
        settings = self.guard.current()
        if settings is None or settings.context is None:
            return None
        return settings.context, settings.san_allowed

    def slow(self, request: Request) -> bool:
        return not self.guard.cached(self.guard.current(), request.headers.get("authorization"))

    def answer(self, request: Request) -> Response:
        settings = self.guard.current()
        headers: dict[str, str] = dict(settings.headers) if settings is not None else {}
        if settings is not None and settings.limiter is not None and not settings.limiter.allow():
            return text(429, b"too many requests\n", headers)
        if not self.guard.authorized(settings, request.headers.get("authorization")):
            headers["WWW-Authenticate"] = 'Basic realm="vigia"'
            return text(401, b"unauthorized\n", headers)
        path = request.path
        if path == "/metrics":
            gz = "gzip" in request.headers.get("accept-encoding", "")
            body = self.exposition.body(gzipped=gz)
            if not body:
                return text(503, b"no probe cycle has finished yet\n", headers)
            if gz:
                headers["Content-Encoding"] = "gzip"
            return Response(200, body, CONTENT_TYPE, headers)
        if path == "/-/healthy":
            return text(200, b"OK\n", headers)
        if path == "/-/ready":
            ok = self.ready()
            return text(200 if ok else 503, b"Ready\n" if ok else b"not ready: waiting for the first probe cycle\n",
                        headers)  # fmt: skip
        if path.startswith(API_PREFIX) and self.api is not None:
            doc = self.api.document(path)
            return Response(200, doc, API_TYPE, headers) if doc else text(404, b"not found\n", headers)
        if path == "/":
            return Response(200, LANDING, "text/html; charset=utf-8", headers)
        return text(404, b"not found\n", headers)


class MetricsServer(Listener):
    name = "metrics"

    def __init__(
        self,
        listen: str,
        exposition: Exposition,
        ready: Callable[[], bool],
        guard: WebGuard | None = None,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
        api: Api | None = None,
    ) -> None:
        self.guard = guard or WebGuard(None)
        handler = MetricsHandler(exposition, ready, self.guard, api)
        super().__init__(listen, handler, max_connections=max_connections, max_per_client=max_per_client)
