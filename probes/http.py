"""HTTP(S) probe: status, latency, body regex, capped redirects and body size.

Redirects are followed by hand so that each hop is checked: only http and
https are followed, the count is capped, and credentials go only to the
configured scheme, host and port (never to where a redirect points).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import re
import socket
import ssl
import threading
from urllib.parse import urljoin, urlsplit

from pydantic import Field, field_validator

from probes import result as r
from probes.netutil import ProbeFailure, classify, reveals_version
from probes.result import MetricSpec, ProbeResult, Timer, remaining
from probes.settings import Regex, Secret, Settings
from probes.tls import certificate_facts

KIND = "http"
USER_AGENT = "vigia-probe/1"
_REDIRECTS = {301, 302, 303, 307, 308}


class BasicAuth(Settings):
    username: str = Field(min_length=1)
    password: Secret


class HttpSettings(Settings):
    url: str
    method: str = Field(default="GET", pattern="^(GET|HEAD)$")
    headers: dict[str, str] = Field(default_factory=dict)
    valid_status_codes: list[int] = Field(default_factory=list, description="empty means any 2xx")
    body_regex: Regex | None = None
    body_not_regex: Regex | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_body_bytes: int = Field(default=1_048_576, ge=1, le=64 * 1_048_576)
    tls_verify: bool = True
    ca_file: str | None = None
    basic_auth: BasicAuth | None = None
    check_security_headers: bool = Field(
        default=False, description="report HSTS, CSP, X-Content-Type-Options, X-Frame-Options, Referrer-Policy"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        return value

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in ("authorization", "cookie", "proxy-authorization"):
                raise ValueError(f"header {name!r} carries a secret: use basic_auth with a password file or env")
        return value


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
    MetricSpec("redirects", "http_redirects", "Redirects followed to reach the final response."),
    MetricSpec("content_length_bytes", "http_content_length_bytes", "Body bytes read from the final response."),
    MetricSpec(
        "tls_certificate_expiry_timestamp_seconds",
        "tls_certificate_expiry_timestamp_seconds",
        "Unix time the leaf certificate presented by the target expires.",
    ),
)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _tls_context(settings: HttpSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _Guard:
    """Shuts the connection's socket at the deadline, so no slow peer can hold a probe past it."""

    def __init__(self, deadline: float) -> None:
        self._timer = threading.Timer(remaining(deadline), self._fire)
        self._timer.daemon = True
        self.conn: http.client.HTTPConnection | None = None
        self.fired = False

    def _fire(self) -> None:
        self.fired = True
        conn = self.conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):  # already closed by the probe itself
                conn.sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Guard:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def probe(target: str, settings: HttpSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    values: dict[str, float] = {}
    labels: dict[str, str] = {}
    url = settings.url
    home = _origin(settings.url)
    auth_header = ""
    try:
        if settings.basic_auth is not None:
            try:
                password = settings.basic_auth.password.read()
            except (OSError, KeyError) as exc:
                raise ProbeFailure(
                    r.INTERNAL, f"cannot read the basic_auth password: {exc.__class__.__name__}"
                ) from None
            token = base64.b64encode(f"{settings.basic_auth.username}:{password}".encode()).decode()
            auth_header = f"Basic {token}"
        ctx: ssl.SSLContext | None = None  # built on the first https hop only
        redirects = 0
        with _Guard(deadline) as guard:
            while True:
                if ctx is None and url.startswith("https"):
                    ctx = _tls_context(settings)
                status, location, body, expiry, headers = _fetch_once(
                    url, settings, home, auth_header, ctx, guard, deadline
                )
                if expiry is not None:
                    values["tls_certificate_expiry_timestamp_seconds"] = expiry
                if status in _REDIRECTS and settings.follow_redirects and location is not None:
                    redirects += 1
                    values["redirects"] = float(redirects)
                    if redirects > settings.max_redirects:
                        raise ProbeFailure(
                            r.REDIRECT, f"more than {settings.max_redirects} redirects (last to {location})"
                        )
                    nxt = urljoin(url, location)
                    if urlsplit(nxt).scheme not in ("http", "https"):
                        raise ProbeFailure(
                            r.REDIRECT, f"refused to follow a redirect to a non-http(s) URL: {nxt[:100]}"
                        )
                    url = nxt
                    continue
                break
        values["status_code"] = float(status)
        if settings.check_security_headers:
            for h in SECURITY_HEADERS:
                values[f"header_{h.replace('-', '_')}"] = 1.0 if h in headers else 0.0
            banner = " ".join(headers.get(h, "") for h in ("server", "x-powered-by")).strip()
            values["server_banner_reveals_version"] = 1.0 if reveals_version(banner) else 0.0
            if banner:
                labels["server"] = banner[:120]
        values["redirects"] = float(redirects)
        values["content_length_bytes"] = float(len(body))
        ok_codes = settings.valid_status_codes
        if (status not in ok_codes) if ok_codes else not (200 <= status < 300):
            raise ProbeFailure(r.HTTP_STATUS, f"{url}: status {status}")
        text = body.decode("utf-8", "replace")
        if settings.body_regex is not None and re.search(settings.body_regex, text) is None:
            raise ProbeFailure(r.BODY_MISMATCH, f"{url}: body does not match /{settings.body_regex}/")
        if settings.body_not_regex is not None and re.search(settings.body_not_regex, text) is not None:
            raise ProbeFailure(r.BODY_MISMATCH, f"{url}: body matches /{settings.body_not_regex}/")
    except Exception as exc:  # any failure of the target is data
        failure = (
            classify(exc, url)
            if not isinstance(exc, http.client.HTTPException)
            else ProbeFailure(r.PROTOCOL, f"{url}: invalid HTTP response ({type(exc).__name__})")
        )
        if isinstance(exc, OSError) and failure.reason == r.CONNECTION and remaining(deadline) <= 0:
            failure = ProbeFailure(r.TIMEOUT, f"{url}: no complete answer before the deadline")
        return timer.fail(target, KIND, failure.reason, str(failure), values)
    return timer.ok(target, KIND, values, labels)


def _fetch_once(
    url: str,
    settings: HttpSettings,
    home: tuple[str, str, int],
    auth_header: str,
    ctx: ssl.SSLContext | None,
    guard: _Guard,
    deadline: float,
) -> tuple[int, str | None, bytes, float | None, dict[str, str]]:
    parts = urlsplit(url)
    origin = _origin(url)
    timeout = remaining(deadline)
    if timeout <= 0:
        raise ProbeFailure(r.TIMEOUT, f"{url}: deadline reached")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(origin[1], origin[2], timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(origin[1], origin[2], timeout=timeout)
    guard.conn = conn
    try:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Connection": "close"}
        headers.update(settings.headers)
        if auth_header and origin == home:
            headers["Authorization"] = auth_header
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(settings.method, path, headers=headers)
        expiry = None
        if isinstance(conn.sock, ssl.SSLSocket):
            der = conn.sock.getpeercert(binary_form=True)
            expiry = certificate_facts(der).not_after if der else None
        resp = conn.getresponse()
        body = b""
        if settings.method != "HEAD" and resp.status not in _REDIRECTS:
            body = resp.read(settings.max_body_bytes + 1)
            if len(body) > settings.max_body_bytes:
                raise ProbeFailure(r.TOO_LARGE, f"{url}: body larger than {settings.max_body_bytes} bytes")
        if guard.fired:  # the guard cut the socket: what was read is incomplete
            raise ProbeFailure(r.TIMEOUT, f"{url}: no complete answer before the deadline")
        return resp.status, resp.getheader("Location"), body, expiry, {k.lower(): v for k, v in resp.getheaders()}
    except (OSError, http.client.HTTPException) as exc:
        if guard.fired:
            raise ProbeFailure(r.TIMEOUT, f"{url}: no complete answer before the deadline") from exc
        raise
    finally:
        conn.close()


def fetch(settings: HttpSettings, *, deadline: float) -> bytes | tuple[str, str]:
    """GET ``settings.url`` once (no redirects); the body, or (reason, message) on failure."""
    try:
        with _Guard(deadline) as guard:
            ctx = _tls_context(settings) if settings.url.startswith("https") else None
            status, _, body, _, _ = _fetch_once(settings.url, settings, _origin(settings.url), "", ctx, guard, deadline)
    except Exception as exc:  # any failure of the target is data
        failure = (
            ProbeFailure(r.PROTOCOL, f"{settings.url}: invalid HTTP response")
            if isinstance(exc, http.client.HTTPException)
            else classify(exc, settings.url)
        )
        return failure.reason, str(failure)
    if not 200 <= status < 300:
        return r.HTTP_STATUS, f"{settings.url}: status {status}"
    return body
