"""HTTP(S) probe: status, latency per phase, body regex, capped redirects and body size.

Redirects are followed by hand so that each hop is checked: only http and
https are followed, the count is capped, and credentials go only to the
configured scheme, host and port (never to where a redirect points).

The connection is netutil.open_transport (resolve, connect and TLS timed apart) and
the answer is read by probes.httpwire: httptools' C parser on an asyncio Protocol.
httpx's own client was measured at about 1,250 us of CPU per request here,
aiohttp's at 330-415 us and h11 on asyncio streams at about 230 us; on one loop
that serves every check of the daemon, CPU per check is the capacity.
"""

from __future__ import annotations

import base64
import functools
import re
import time
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urljoin, urlsplit

import msgspec
from msgspec import Meta

from kernel.redact import has_password
from kernel.spec import FieldError
from probes import result as r
from probes.httpwire import Answer, request
from probes.netutil import Phases, ProbeFailure, classify, open_transport, reveals_version
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Name, Pattern, Secret, Settings
from probes.sightings import Sightings, Thresholds
from probes.tls import certificate_facts, client_context

KIND = "http"
USER_AGENT = "vigia-probe/1"
_REDIRECTS = {301, 302, 303, 307, 308}
_STOP_AT = frozenset(_REDIRECTS)
_TOKEN = re.compile(
    r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
)  # RFC 9110's token: what a header's name is  # a redirect's body is never read


class BasicAuth(Settings, frozen=True):
    username: Name
    password: Secret


def check_url(field: str, value: str) -> None:
    """An http(s) URL with a host and no password in it, else FieldError at ``field`` (the node
    probe's rule too)."""
    parts = urlsplit(value)
    if has_password(value):
        raise FieldError(
            field, "the URL carries a password: never inline, use basic_auth with password: {file: ...} or {env: ...}"
        )
    if any(c <= " " or c == "\x7f" for c in value):
        raise FieldError(field, f"{value!r} holds a space or a control character (percent-encode it)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError(field, f"{value!r} is not an http:// or https:// URL with a host")


class HttpSettings(Settings, frozen=True):
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    valid_status_codes: list[int] = msgspec.field(default_factory=list)  # empty means any 2xx
    body_regex: Pattern | None = None
    body_not_regex: Pattern | None = None
    follow_redirects: bool = True
    max_redirects: Annotated[int, Meta(ge=0, le=20)] = 5
    max_body_bytes: Annotated[int, Meta(ge=1, le=64 * 1_048_576)] = 1_048_576
    tls_verify: bool = True
    ca_file: str | None = None
    basic_auth: BasicAuth | None = None
    # report HSTS, CSP, X-Content-Type-Options, X-Frame-Options, Referrer-Policy
    check_security_headers: bool = False

    def __post_init__(self) -> None:
        check_url("url", self.url)
        for name, value in self.headers.items():
            if not _TOKEN.match(name) or any(c in value for c in "\r\n\0"):
                raise FieldError("headers", f"header {name!r}: a name is a token and a value one line")
            if name.lower() in ("authorization", "cookie", "proxy-authorization"):
                raise FieldError(
                    "headers", f"header {name!r} carries a secret: use basic_auth with a password file or env"
                )


PHASES = ("resolve", "connect", "tls", "processing", "transfer")
SECURITY_HEADERS = (
    "strict-transport-security", "content-security-policy", "x-content-type-options", "x-frame-options",
    "referrer-policy",
)  # fmt: skip
METRICS = (
    MetricSpec("status_code", "http_status_code", "HTTP status code of the final response."),
    *(
        MetricSpec(
            f"header_{h.replace('-', '_')}",
            "http_security_header_present",
            "1 if the final response carries the security header." if i == 0 else "",
            const_labels=(("header", h),),
        )
        for i, h in enumerate(SECURITY_HEADERS)
    ),
    MetricSpec(
        "server_banner_reveals_version",
        "http_server_banner_reveals_version",
        "1 if the Server or X-Powered-By header names a version number.",
    ),
    *(
        MetricSpec(
            f"phase_{phase}_seconds",
            "http_duration_seconds",
            "Seconds spent in each phase of the request, summed over redirects (as blackbox_exporter)."
            if i == 0
            else "",
            const_labels=(("phase", phase),),
        )
        for i, phase in enumerate(PHASES)
    ),
    MetricSpec("redirects", "http_redirects", "Redirects followed to reach the final response."),
    MetricSpec("content_length_bytes", "http_content_length_bytes", "Body bytes read from the final response."),
    MetricSpec(
        "throughput_bytes_per_second",
        "http_throughput_bytes_per_second",
        "The final body's bytes over the transfer phase: a zone agent's download test reads its speed here.",
    ),
    MetricSpec(
        "tls_certificate_expiry_timestamp_seconds",
        "tls_certificate_expiry_timestamp_seconds",
        "Unix time the leaf certificate presented by the target expires.",
    ),
)


@functools.lru_cache(maxsize=4096)
def _origin(url: str) -> tuple[str, str, int]:
    # Asked three times a check (home, each hop, the connection) of the same few URLs: urlsplit was
    # a tenth of an HTTP check's CPU. A bad port raises, and is not cached.
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


@dataclass(slots=True)
class _Timings(Phases):
    processing: float = 0.0
    transfer: float = 0.0


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    location: str | None
    body: bytes  # empty unless kept: a check that matches no text counts the bytes and lets them go
    expiry: float | None
    headers: dict[str, str]
    size: int


SETTINGS = HttpSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: HttpSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    values: dict[str, float] = {}
    labels: dict[str, str] = {}
    url = settings.url
    home = _origin(settings.url)
    timings = _Timings()
    try:
        auth_header = _authorization(settings)
        redirects = 0
        reads_body = settings.body_regex is not None or settings.body_not_regex is not None
        while True:
            auth = auth_header if _origin(url) == home else ""
            resp = await _fetch_once(url, settings, auth, timings, deadline, keep_body=reads_body)
            if resp.expiry is not None:
                values["tls_certificate_expiry_timestamp_seconds"] = resp.expiry
            if resp.status in _REDIRECTS and settings.follow_redirects and resp.location is not None:
                redirects += 1
                values["redirects"] = float(redirects)
                if redirects > settings.max_redirects:
                    raise ProbeFailure(
                        r.REDIRECT, f"more than {settings.max_redirects} redirects (last to {resp.location})"
                    )
                nxt = urljoin(url, resp.location)
                if urlsplit(nxt).scheme not in ("http", "https"):
                    raise ProbeFailure(r.REDIRECT, f"refused to follow a redirect to a non-http(s) URL: {nxt[:100]}")
                url = nxt
                continue
            break
        status, headers, body = resp.status, resp.headers, resp.body
        values["status_code"] = float(status)
        if settings.check_security_headers:
            _audit_headers(headers, values, labels)
        values["redirects"] = float(redirects)
        values["content_length_bytes"] = float(resp.size)
        if resp.size and timings.transfer > 0:
            values["throughput_bytes_per_second"] = resp.size / timings.transfer
        ok_codes = settings.valid_status_codes
        if (status not in ok_codes) if ok_codes else not (200 <= status < 300):
            raise ProbeFailure(r.HTTP_STATUS, f"{url}: status {status}")
        text = body.decode("utf-8", "replace")  # empty unless a regex asked for the body
        if settings.body_regex is not None and re.search(settings.body_regex, text) is None:
            raise ProbeFailure(r.BODY_MISMATCH, f"{url}: body does not match /{settings.body_regex}/")
        if settings.body_not_regex is not None and re.search(settings.body_not_regex, text) is not None:
            raise ProbeFailure(r.BODY_MISMATCH, f"{url}: body matches /{settings.body_not_regex}/")
    except Exception as exc:  # any failure of the target is data
        failure = classify(exc, url)
        _put_timings(values, timings)
        return timer.fail(target, KIND, failure.reason, str(failure), values)
    _put_timings(values, timings)
    return timer.ok(target, KIND, values, labels)


def _authorization(settings: HttpSettings) -> str:
    """The Authorization header's value for basic_auth ("" without it), its password read now."""
    if settings.basic_auth is None:
        return ""
    try:
        password = settings.basic_auth.password.read()
    except (OSError, KeyError) as exc:
        raise ProbeFailure(r.INTERNAL, f"cannot read the basic_auth password: {exc.__class__.__name__}") from None
    token = base64.b64encode(f"{settings.basic_auth.username}:{password}".encode()).decode()
    return f"Basic {token}"


def _audit_headers(headers: dict[str, str], values: dict[str, float], labels: dict[str, str]) -> None:
    """Which security headers the answer carries, and whether its banner names a version."""
    for h in SECURITY_HEADERS:
        values[f"header_{h.replace('-', '_')}"] = 1.0 if h in headers else 0.0
    banner = " ".join(headers.get(h, "") for h in ("server", "x-powered-by")).strip()
    values["server_banner_reveals_version"] = 1.0 if reveals_version(banner) else 0.0
    if banner:
        labels["server"] = banner[:120]


def _put_timings(values: dict[str, float], timings: _Timings) -> None:
    for phase in PHASES:
        values[f"phase_{phase}_seconds"] = getattr(timings, phase)


def _headers(settings: HttpSettings) -> tuple[tuple[str, str], ...]:
    headers = {"user-agent": ("User-Agent", USER_AGENT), "accept-encoding": ("Accept-Encoding", "identity")}
    for name, value in settings.headers.items():
        headers[name.lower()] = (name, value)
    headers["connection"] = ("Connection", "close")  # one request per connection, as a probe should
    return tuple(headers.values())


async def _fetch_once(
    url: str, settings: HttpSettings, auth_header: str, timings: _Timings, deadline: float, *, keep_body: bool
) -> _Response:
    scheme, host, port = _origin(url)
    ctx = client_context(settings.ca_file, settings.tls_verify) if scheme == "https" else None

    def answer() -> Answer:
        return Answer(url, deadline=deadline, head_only=settings.method == "HEAD", stop_at=_STOP_AT,
                      keep_body=keep_body, max_body=settings.max_body_bytes)  # fmt: skip

    transport, got, _ = await open_transport(host, port, deadline, answer, tls=ctx, phases=timings)
    try:
        expiry = None
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            der = tls.getpeercert(binary_form=True)
            expiry = certificate_facts(der).not_after if der else None
        sent = time.monotonic()
        transport.write(request(settings.method, url, _headers(settings), auth_header))
        await got.done  # resolved by the answer, its end, or its deadline (Answer's timer)
    finally:
        got.done.cancel()  # nothing left to say once the connection goes (no unheard exception)
        transport.abort()  # abort, not close: a peer that stopped reading keeps no socket in the loop
    timings.processing += got.first_byte - sent
    timings.transfer += got.ended - got.first_byte
    return _Response(got.status, got.headers.get("location"), got.body, expiry, got.headers, got.size)


async def fetch(settings: HttpSettings, *, deadline: float) -> bytes | tuple[str, str]:
    """GET ``settings.url`` once (no redirects); the body, or (reason, message) on failure."""
    try:
        resp = await _fetch_once(settings.url, settings, "", _Timings(), deadline, keep_body=True)
    except Exception as exc:  # any failure of the target is data
        failure = classify(exc, settings.url)
        return failure.reason, str(failure)
    if not 200 <= resp.status < 300:
        return r.HTTP_STATUS, f"{settings.url}: status {resp.status}"
    return resp.body


def findings(res: ProbeResult, settings: HttpSettings, thresholds: Thresholds, now: float) -> Sightings:
    """Security headers the answer lacks, and a ``Server`` header that names its version."""
    s = Sightings()
    if headers := sorted(k for k in res.values if k.startswith("header_")):
        s.look(res.target, "http_header_missing")
        for key in headers:
            if res.values[key] == 0.0:
                name = key.removeprefix("header_").replace("_", "-")
                s.see("http_header_missing", res.target, f"{name}: absent", detail=name)
    s.banner(res, "server_banner_reveals_version", "server")
    return s
