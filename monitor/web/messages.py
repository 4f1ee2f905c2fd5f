"""What a listener's handler takes and gives: a parsed request and the answer to it."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # as sent: path and query
    headers: Mapping[str, str]  # names in lower case; a repeated header keeps its last value
    client: str
    keep_alive: bool = True
    body: bytes = b""  # only where the handler takes one (body_limit), within its cap

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
    """A listener's answers: a fixed table of paths, GET and HEAD, and a body only where
    ``body_limit`` takes one. ``answer`` must be quick (it runs on the listener's loop) unless
    ``slow`` names the thread pool it runs on for a request."""

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def slow(self, request: Request) -> str | None:
        """The pool a request is answered on ("auth": a bcrypt check; "ingest": an agent's batch
        into the store), or None to answer it on the loop. Pools never share threads, so a flood
        of one never delays the others."""
        return None

    def body_limit(self, method: str, path: str) -> int | None:
        """The largest body this handler takes for ``method`` on ``path`` (bytes as sent), or None:
        the method is refused (405) there."""
        return None

    def tls(self) -> tuple[ssl.SSLContext, Callable[[dict[str, object] | None], bool]] | None:
        """The TLS context for a new connection and the check of the client's certificate, or None."""
        return None
