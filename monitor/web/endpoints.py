"""The main listener's answers: /metrics, the health endpoints, the read-only API and a landing
page, behind the web config's TLS, basic auth and rate limit."""

from __future__ import annotations

import ssl
from collections.abc import Callable

from monitor.web.api import CONTENT_TYPE as API_TYPE
from monitor.web.api import PREFIX as API_PREFIX
from monitor.web.api import Api
from monitor.web.exposition import CONTENT_TYPE, Exposition
from monitor.web.http import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_CLIENT, Listener
from monitor.web.ingest import MAX_SENT, Ingest, is_agents, zone_of
from monitor.web.messages import Handler, Request, Response, text
from monitor.web.runbooks import PREFIX as RUNBOOKS
from monitor.web.runbooks import Runbooks
from monitor.web.webconfig import WebGuard

LANDING = b"""<!doctype html><html><head><meta charset="utf-8"><title>vigia</title></head>
<body><h1>vigia</h1><p>IT operations and continuity monitoring.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li><li><a href="runbooks/">/runbooks/</a></li></ul></body></html>
"""


class MetricsHandler(Handler):
    """The main listener: /metrics, the health endpoints, the API and a landing page, behind the
    web config's TLS, basic auth and rate limit."""

    def __init__(
        self, exposition: Exposition, ready: Callable[[], bool], guard: WebGuard, api: Api | None,
        ingest: Ingest | None = None,
    ) -> None:  # fmt: skip
        self.exposition, self.ready, self.guard, self.api, self.ingest = exposition, ready, guard, api, ingest
        self.runbooks = Runbooks()

    def tls(self) -> tuple[ssl.SSLContext, Callable[[dict[str, object] | None], bool]] | None:
        settings = self.guard.current()
        if settings is None or settings.context is None:
            return None
        return settings.context, settings.san_allowed

    def slow(self, request: Request) -> str | None:
        if request.method == "POST" or (self.ingest is not None and is_agents(request.path)):
            return "ingest"  # an agent's batch (a store transaction) or its checks: threads of their own
        if not self.guard.cached(self.guard.current(), request.headers.get("authorization")):
            return "auth"
        # A read of an API document out of date waits for its render (Api.document): never on the
        # listener's loop, where it would hold up every scrape for that long.
        return "api" if self.api is not None and request.path.startswith(API_PREFIX) else None

    def body_limit(self, method: str, path: str) -> int | None:
        return MAX_SENT if method == "POST" and self.ingest is not None and zone_of(path) is not None else None

    def answer(self, request: Request) -> Response:
        if self.ingest is not None and (request.method == "POST" or is_agents(request.path)):
            # Agents carry their own bearer token and rate limit, not the web config's basic auth.
            return self.ingest.answer(request)
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
        if path.startswith(RUNBOOKS):
            page = self.runbooks.page(path)
            if page is not None:
                return Response(200, page, "text/html; charset=utf-8", headers)
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
        ingest: Ingest | None = None,
    ) -> None:
        self.guard = guard or WebGuard(None)
        handler = MetricsHandler(exposition, ready, self.guard, api, ingest)
        super().__init__(listen, handler, max_connections=max_connections, max_per_client=max_per_client)
