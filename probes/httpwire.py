"""HTTP/1.1 on the wire for the http probe: the request written, the answer parsed by httptools
(llhttp, the C parser under uvicorn) on an asyncio Protocol.

Why not streams and a Python state machine: on the one loop that serves every check of the daemon,
CPU per check is the capacity; h11 on asyncio streams cost about 230 us a request here, most of it
in Python parsing and in the stream's buffering. Here the bytes go from the transport straight into
llhttp, and the protocol only keeps what the probe judges: status, headers, body size and, when a
regex asks for it, the body.
"""

from __future__ import annotations

import asyncio
import functools
import time
from urllib.parse import quote, urlsplit

import httptools

from probes import result as r
from probes.netutil import ProbeFailure

# Kept as-is in a request target: what a URL may carry unescaped; the rest (spaces, controls,
# non-ASCII of a redirect's Location) is percent-encoded as browsers do.
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


def request(method: str, url: str, headers: tuple[tuple[str, str], ...], authorization: str = "") -> bytes:
    """The request's bytes: its line, a Host from the URL (never its userinfo), ``headers``, then
    ``authorization`` when given."""
    head = _head(method, url, headers)
    if authorization:
        # Never in the cache below: a password read for one check is not kept for the next.
        head += f"Authorization: {authorization}\r\n".encode("latin-1")
    return head + b"\r\n"


@functools.lru_cache(maxsize=4096)
def _head(method: str, url: str, headers: tuple[tuple[str, str], ...]) -> bytes:
    # The same few requests every cycle (a daemon's URLs are its configuration's): splitting and
    # quoting the URL was a tenth of an HTTP check's CPU. A redirect's URL takes a place for a while.
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    host = parts.netloc.rsplit("@", 1)[-1]
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class Answer(asyncio.Protocol):
    """One response read off a connection. ``done`` resolves when the probe has what it judges: the
    whole message, or its head alone for HEAD and redirects (a redirect's body is never read)."""

    def __init__(
        self, where: str, *, deadline: float, head_only: bool, stop_at: frozenset[int], keep_body: bool, max_body: int
    ) -> None:
        self.where, self.deadline, self.head_only, self.stop_at = where, deadline, head_only, stop_at
        self.keep_body, self.max_body = keep_body, max_body
        # The parser holds this protocol's callbacks and this protocol holds it: a reference cycle
        # per request for the collector, so it lives from connection_made to connection_lost only (a
        # connect that fails makes the protocol but calls neither).
        self.parser: httptools.HttpResponseParser | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.first_byte = 0.0
        self.ended = 0.0
        # The answer's own deadline, one timer handle: an asyncio.timeout around the wait cost a
        # Timeout object, a handle and the task's cancel bookkeeping, a tenth of the check again.
        self.timer: asyncio.TimerHandle | None = None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.timer = asyncio.get_running_loop().call_at(self.deadline, self._expire)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if self.done.done() or parser is None:
            return
        if not self.first_byte:
            self.first_byte = time.monotonic()
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._end()  # a 101: what follows is another protocol, the answer is its head
        except httptools.HttpParserError as exc:
            self._end(ProbeFailure(r.PROTOCOL, f"{self.where}: invalid HTTP response ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.parser = None
        if self.timer is not None:
            self.timer.cancel()  # its handle holds this protocol until the deadline otherwise
        if self.done.done():
            return
        if self.status and self._ends_at_close():
            self._end()  # a body without length ends with its connection
        elif exc is not None:
            self._end(exc)
        else:
            self._end(ProbeFailure(r.PROTOCOL, f"{self.where}: connection closed before a complete answer"))

    # httptools' side (its callbacks, named by it)

    def on_message_begin(self) -> None:
        self.headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        parser = self.parser
        assert parser is not None  # httptools calls this from feed_data, before connection_lost
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # informational: the answer follows
        self.status = status
        if self.head_only or status in self.stop_at:
            self._end()

    def on_body(self, body: bytes) -> None:
        if self.done.done():
            return
        self.size += len(body)
        if self.size > self.max_body:
            self._end(ProbeFailure(r.TOO_LARGE, f"{self.where}: body larger than {self.max_body} bytes"))
        elif self.keep_body:  # a zone agent's throughput test downloads megabytes it never reads
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.status:
            self._end()

    def _ends_at_close(self) -> bool:
        return "content-length" not in self.headers and "chunked" not in self.headers.get("transfer-encoding", "")

    def _expire(self) -> None:
        self._end(ProbeFailure(r.TIMEOUT, f"{self.where}: no complete answer before the deadline"))

    def _end(self, error: BaseException | None = None) -> None:
        if self.done.done():
            return
        self.ended = time.monotonic()
        if self.timer is not None:
            self.timer.cancel()
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)
