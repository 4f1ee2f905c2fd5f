"""Zone agents' batches into the centre: POST /api/v1/agents/<zone>/results on the main listener.

The agent's own credential, not the web config's basic auth: ``Authorization: Bearer <token>``,
compared in constant time with the hashes the store keeps (domain.agents). A token speaks only for
its own zone. The body (gzip or not) is capped before and after decompression, read whole, checked
whole (domain.agents.parse names the field), its times corrected by the measured clock offset, and
stored in one transaction, exactly once per (zone, sequence) (store.agents); nothing of a refused
batch is kept and every refusal is counted by reason. The answer acknowledges the highest sequence
now stored: what the agent may forget.

GET /api/v1/agents/<zone>/checks (the same token) answers what the agent checks, from the zone's
``agent:`` entry of the central configuration, with an ETag (304 when unchanged).

Answers: 200 stored; 400 out of shape or out of time (the reason and field in the body); 401 no or
a wrong token; 403 a token for another zone; 413 too large; 429 more batches than an agent needs;
503 the store away (the agent keeps its rows and tries again).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import zlib
from collections.abc import Callable, Mapping

from domain import agents as ag
from domain.vantage import late_after
from domain.zones import Zone
from kernel.errors import StoreError
from monitor.runtime.stats import IngestCounts
from monitor.web.messages import METHOD_NOT_ALLOWED, Request, Response, text
from monitor.web.webconfig import TokenBucket
from probes.result import ProbeResult
from store.agents import Agents

PREFIX = "/api/v1/agents/"
MAX_SENT = 2 * 2**20  # bytes of a body as sent (compressed or not)
TOKENS_FRESH = 10.0  # seconds a read of the tokens is trusted: a revocation takes effect within it
RATE_INTERVAL, RATE_BURST = 1.0, 10  # per zone: a batch a second on average, ten at once after a cut


def zone_of(path: str, what: str = "results") -> str | None:
    """``/api/v1/agents/<zone>/<what>`` -> zone; None for any other path."""
    if not path.startswith(PREFIX) or not path.endswith("/" + what):
        return None
    zone = path[len(PREFIX) : -len(what) - 1]
    return zone if zone and "/" not in zone else None


def is_agents(path: str) -> bool:
    return zone_of(path) is not None or zone_of(path, "checks") is not None


def _json(status: int, body: dict[str, object], headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body).encode() + b"\n", "application/json", headers or {})


def _inflate(body: bytes, encoding: str) -> bytes:
    """The body as JSON bytes, never more than domain.agents.MAX_BODY (a gzip bomb stops there)."""
    if encoding in ("", "identity"):
        if len(body) > ag.MAX_BODY:
            raise ag.BatchRefused("too_large", f"more than {ag.MAX_BODY} bytes")
        return body
    if encoding != "gzip":
        raise ag.BatchRefused("schema", f"Content-Encoding {encoding[:20]!r} (gzip or none)")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, ag.MAX_BODY + 1)
    except zlib.error as e:
        raise ag.BatchRefused("schema", f"body: not gzip ({e})") from None
    if len(out) > ag.MAX_BODY or inflater.unconsumed_tail:
        raise ag.BatchRefused("too_large", f"more than {ag.MAX_BODY} bytes once decompressed")
    return out


class Ingest:
    def __init__(
        self,
        agents: Agents,
        counts: IngestCounts,
        zones: Callable[[], Mapping[str, Zone]],
        *,
        clock: Callable[[], float] = time.time,
        stored: Callable[[str, list[ProbeResult]], None] | None = None,
    ) -> None:
        self.agents, self.counts, self.zones, self.clock = agents, counts, zones, clock
        self.on_stored = stored  # handed each stored batch's results: the zone's inside view
        self._tokens = ag.TokenIndex({})
        self._tokens_at = -TOKENS_FRESH
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def answer(self, request: Request) -> Response:
        zone = zone_of(request.path)
        asked = zone_of(request.path, "checks")
        if zone is None and asked is None:
            return text(404, b"not found\n")
        refusal = self._guard(request, zone or asked or "")
        if refusal is not None:
            return refusal
        if asked is not None:
            return self._checks(request, asked) if request.method in ("GET", "HEAD") else METHOD_NOT_ALLOWED
        if request.method != "POST":
            return text(405, b"method not allowed\n", {"Allow": "POST"})
        return self._batch(request, zone or "")

    def _checks(self, request: Request, zone: str) -> Response:
        """The zone's agent checks (GET .../checks), with an ETag: an agent asks again cheaply."""
        found = self.zones().get(zone)
        if found is None or found.agent is None:
            return _json(404, {"error": "no_checks", "detail": f"zone {zone!r} has no agent: section"})
        doc = ag.checks_document(zone, ag.checks_of(found.agent))
        etag = '"' + hashlib.sha256(doc).hexdigest()[:32] + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(304, b"", "application/json", {"ETag": etag})
        return Response(200, doc, "application/json", {"ETag": etag})

    def _batch(self, request: Request, zone: str) -> Response:
        received = self.clock()
        try:
            batch = ag.parse(_inflate(request.body, request.headers.get("content-encoding", "").lower()))
            if batch.zone != zone:
                return self._refuse("forbidden", 403, f"the batch is zone {batch.zone!r}'s, the URL {zone!r}'s")
            results = ag.corrected(batch, received)
        except ag.BatchRefused as e:
            return self._refuse(e.reason, 413 if e.reason == "too_large" else 400, e.detail)
        skew = received - batch.sent_at
        found = self.zones().get(zone)
        late = late_after(found.agent.interval) if found is not None and found.agent is not None else None
        try:
            done = self.agents.store(batch, results, received_at=received, skew=skew, late_after=late)
        except StoreError as e:
            return self._refuse("store", 503, str(e))
        self.counts.stored(done.new, done.duplicates)
        if self.on_stored is not None and done.new:
            self.on_stored(zone, [ag.result_of(r, at) for r, at in results])
        return _json(200, {"stored": done.new, "duplicates": done.duplicates, "ack": done.last_seq,
                           "dropped_heard": batch.dropped, "offset": ag.offset(batch, received)})  # fmt: skip

    def _guard(self, request: Request, zone: str) -> Response | None:
        """Who is sending, for which zone, and how often: the refusal, or None to go on."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        owner = self._live_tokens().owner(token.strip()) if scheme.lower() == "bearer" else None
        if owner is None:
            return self._refuse("unauthorized", 401, "no agent token, or not a live one",
                                {"WWW-Authenticate": 'Bearer realm="vigia"'})  # fmt: skip
        if owner != zone:
            return self._refuse("forbidden", 403, f"this token speaks for {owner!r}, not {zone!r}")
        with self._lock:
            bucket = self._buckets.setdefault(zone, TokenBucket(RATE_INTERVAL, RATE_BURST))
        if not bucket.allow():
            return self._refuse("rate", 429, "more batches than an agent sends: slow down")
        return None

    def _live_tokens(self) -> ag.TokenIndex:
        with self._lock:
            if self.clock() - self._tokens_at < TOKENS_FRESH:
                return self._tokens
        try:
            fresh = ag.TokenIndex(self.agents.tokens())
        except StoreError:
            return self._tokens  # the store away: the last tokens read still authenticate
        with self._lock:
            self._tokens, self._tokens_at = fresh, self.clock()
            return fresh

    def _refuse(self, reason: str, status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
        self.counts.refuse(reason)
        return _json(status, {"error": reason, "detail": detail}, headers)
