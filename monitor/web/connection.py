"""One HTTP client of a listener: its parser (httptools), its deadlines, and the requests it sent,
answered in order. The listener (monitor.web.http) admits it and pushes it out at its caps."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import ssl
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

import httptools

from monitor.web.messages import METHOD_NOT_ALLOWED, Request, Response, text

if TYPE_CHECKING:
    from monitor.web.http import Connections

log = logging.getLogger("monitor.web.http")

# The request head (and the TLS handshake before it) from the connection or the request's first byte.
HEAD_TIMEOUT = 10.0
# Between keep-alive requests (Prometheus scrapes every 15 to 60 s and reconnects when this passed).
IDLE_TIMEOUT = 30.0
# A client that does not take its answer.
WRITE_TIMEOUT = 30.0
MAX_HEAD = 16 * 1024
# A request body (an agent's batch) once its head is in: a slow backhaul gets time, a trickle does not.
BODY_TIMEOUT = 60.0
# Connections the kernel queues before they are accepted (capped by net.core.somaxconn): under a
# flood of reconnects a short queue drops a scraper's SYN, which it resends only a second later.
MAX_HEADERS = 100


class Connection(asyncio.Protocol):
    """One client: its parser, its deadline, and the requests it has sent (answered in order)."""

    def __init__(self, server: Connections) -> None:
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
        # A request with a body: held until its last byte, within its cap.
        self._with_body: Request | None = None
        self._body = bytearray()
        self._body_limit = 0

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
        target = self._url.decode("latin-1")
        if not target.startswith("/"):
            self._refused = text(400, b"bad request target\n")
            raise ValueError("bad target")
        if method not in ("GET", "HEAD"):
            self._expect_body(Request(method, target, self._headers, self.client, self.parser.should_keep_alive()))
            return
        self.queue.append(Request(method, target, self._headers, self.client, self.parser.should_keep_alive()))
        self.server.unwait(self)

    def _expect_body(self, request: Request) -> None:
        """A method other than GET and HEAD: refused at once (its body never read, the connection
        closed after the answer) unless the handler takes a body there, within its cap."""
        limit = self.server.handler.body_limit(request.method, request.path)
        if limit is None:
            self._refused = METHOD_NOT_ALLOWED
            raise ValueError("method refused")  # stops the parser: feed_data raises HttpParserCallbackError
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            self._refused = text(413, b"request body too large\n")
            self.server.counts.reject("body_too_large")
            raise ValueError("body too large")
        self._with_body, self._body, self._body_limit = request, bytearray(), limit
        self._deadline(BODY_TIMEOUT, "body_timeout")
        if request.headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._with_body is None:
            return  # a GET's body: never read into anything
        self._body += body
        if len(self._body) > self._body_limit:  # chunked, or more than its Content-Length said
            self._refused = text(413, b"request body too large\n")
            self.server.counts.reject("body_too_large")
            raise ValueError("body too large")

    def on_message_complete(self) -> None:
        if self._with_body is not None:
            request = dataclasses.replace(self._with_body, body=bytes(self._body))
            self._with_body, self._body = None, bytearray()
            self._cancel_timer()
            self.queue.append(request)
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
        pool = handler.slow(item)
        if pool is not None:
            future = self.loop.run_in_executor(self.server.pool(pool), handler.answer, item)
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
