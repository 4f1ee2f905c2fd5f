"""``--web.config.file``: TLS, basic auth and response headers, in Prometheus exporter-toolkit's format.

The same file a node_exporter or Prometheus reads works here, with the same strict keys and
the same checks (bcrypt hashes must parse, client CAs need a client-auth policy, only the
security headers the toolkit allows). Relative paths are relative to the file's directory.

Differences, each refused with a clear message rather than silently ignored:
``RequestClientCert`` and ``RequireAnyClientCert`` (Python's TLS cannot accept a client
certificate it does not verify) and ``curve_preferences`` (Python's ssl cannot set key
exchange groups). ``http2`` is accepted and has no effect: vigia serves HTTP/1.1.

The file and every file it names are watched: a change is read at the next connection, so a
renewed certificate is served without a restart. A change that does not validate keeps the
previous settings in force (logged, and ``vigia_web_config_last_reload_successful`` goes to 0):
a typo must not open the endpoint or take it down.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import bcrypt
from pydantic import ConfigDict, Field, ValidationError

from kernel.errors import ConfigError, ConfigProblem
from kernel.filestamp import Stamp, stamp
from kernel.model import Duration, Strict
from kernel.yamlsource import Document, Path, load, pydantic_problems
from monitor.web.tls import TLSServerConfig
from monitor.web.tls import context as tls_context

log = logging.getLogger(__name__)

# exporter-toolkit's table: these headers only, and for two of them these values only.
ALLOWED_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}

# bcrypt reads at most 72 bytes; Go's bcrypt and pyca's both refuse longer passwords.
BCRYPT_MAX_PASSWORD = 72
_BCRYPT = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")
AUTH_CACHE_SIZE = 256
NO_TLS_SWITCH = "TLS cannot be switched on or off without a restart"
HANDSHAKE_TIMEOUT = 10.0


class HTTPServerConfig(Strict):
    http2: bool = True
    headers: dict[str, str] = Field(default_factory=dict)


class RateLimitConfig(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)
    interval: Annotated[Duration, Field(ge=0)] = 0.0
    burst: int = Field(default=0, ge=0)


class WebConfigFile(Strict):
    tls_server_config: TLSServerConfig = Field(default_factory=TLSServerConfig)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)


class TokenBucket:
    """rate_limit: one token every ``interval`` seconds, at most ``burst`` saved up."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = max(burst, 1)
        self.tokens = float(self.burst)
        self.at = time.monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) / self.interval)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


@dataclass
class WebSettings:
    """One validated reading of the file: what a connection and a request are checked against."""

    file: str
    files: tuple[str, ...]  # the config file and every file it names, to watch for changes
    context: ssl.SSLContext | None = None
    allowed_sans: tuple[str, ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    users: dict[str, bytes] = field(default_factory=dict)
    decoy: bytes = b""  # hash checked for unknown users, at the cost of the real ones
    limiter: TokenBucket | None = None

    @property
    def tls(self) -> bool:
        return self.context is not None

    def san_allowed(self, peer: dict[str, Any] | None) -> bool:
        if self.allowed_sans is None:
            return True
        names = {str(value) for _, value in (peer or {}).get("subjectAltName", ())}
        return bool(names & set(self.allowed_sans))


def _problems_of_headers(doc: Document, headers: dict[str, str]) -> list[ConfigProblem]:
    out = []
    for name, value in headers.items():
        where: Path = ("http_server_config", "headers", name)
        if name not in ALLOWED_HEADERS:
            allowed = ", ".join(ALLOWED_HEADERS)
            out.append(doc.problem(where, f"HTTP header {name!r} can not be configured (allowed: {allowed})", key=True))
        elif ALLOWED_HEADERS[name] and value not in ALLOWED_HEADERS[name]:
            out.append(doc.problem(where, f"expected one of {list(ALLOWED_HEADERS[name])}, not {value!r}"))
    return out


def _users(doc: Document, users: dict[str, str]) -> tuple[dict[str, bytes], bytes, list[ConfigProblem]]:
    out: dict[str, bytes] = {}
    problems = []
    cost = 4  # bcrypt's lowest
    for user, hashed in users.items():
        m = _BCRYPT.match(hashed)
        ok = m is not None and 4 <= int(m.group(1)) <= 31
        if ok:
            try:
                bcrypt.checkpw(b"", hashed.encode())
            except ValueError:
                ok = False
        if not ok:
            problems.append(
                doc.problem(
                    ("basic_auth_users", user),
                    "not a bcrypt hash (make one with `vigia hash-password` or `htpasswd -nBC 10 '' | tr -d ':\\n'`)",
                )
            )
            continue
        assert m is not None
        cost = max(cost, int(m.group(1)))
        out[user] = hashed.encode()
    # Unknown users are checked against this decoy so that a wrong name costs what a wrong
    # password costs: response time tells nothing about which names exist.
    decoy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(rounds=cost)) if out else b""
    return out, decoy, problems


def parse(file: str) -> WebSettings:
    """Read and validate a web config file; raise ConfigError listing every problem."""
    doc = load(file)
    if doc.problems and doc.data is None:
        raise ConfigError(doc.problems)
    problems = list(doc.problems)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([*problems, doc.problem((), "the file must be a mapping")])
    try:
        model = WebConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems + pydantic_problems(doc, exc, ())) from None
    problems += _problems_of_headers(doc, model.http_server_config.headers)
    users, decoy, user_problems = _users(doc, model.basic_auth_users)
    problems += user_problems
    ctx, files = None, [os.path.abspath(file)]
    tls = model.tls_server_config
    if tls.enabled():
        ctx, named, tls_problems = tls_context(doc, tls)
        files += named
        problems += tls_problems
    if problems:
        raise ConfigError(problems)
    limit = model.rate_limit
    return WebSettings(
        file=file,
        files=tuple(files),
        context=ctx,
        allowed_sans=tuple(tls.client_allowed_sans) if tls.client_allowed_sans is not None else None,
        headers=dict(model.http_server_config.headers),
        users=users,
        decoy=decoy,
        limiter=TokenBucket(limit.interval, limit.burst) if limit.interval > 0 else None,
    )


def _stamps(files: tuple[str, ...]) -> tuple[Stamp | None, ...]:
    return tuple(stamp(f) for f in files)


class WebGuard:
    """The web settings in force, re-read when the file or a file it names changes."""

    def __init__(self, file: str | None, on_reload: Callable[[bool], None] | None = None) -> None:
        self.settings = parse(file) if file else None
        self._stamps = _stamps(self.settings.files) if self.settings else ()
        self.on_reload = on_reload
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()  # bcrypt is CPU-heavy: one at a time, cache hits not held up
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[bytes, bool] = OrderedDict()

    @property
    def tls(self) -> bool:
        return self.settings is not None and self.settings.tls

    def current(self) -> WebSettings | None:
        settings = self.settings
        if settings is None:
            return None
        stamps = _stamps(settings.files)
        if stamps == self._stamps:
            return settings
        with self._lock:
            if self.settings is not settings or stamps == self._stamps:
                return self.settings
            self._stamps = stamps
            try:
                fresh = parse(settings.file)
                if fresh.tls != settings.tls:
                    raise ConfigError([ConfigProblem(settings.file, None, None, "tls_server_config", NO_TLS_SWITCH)])
            except ConfigError as exc:
                log.error("web config changed and is invalid; the previous one stays in force:\n%s", exc)
                self._reloaded(False)
                return settings
            self._stamps = _stamps(fresh.files)
            self.settings = fresh
            with self._cache_lock:
                self._cache.clear()
            log.info("web config %s re-read", settings.file)
            self._reloaded(True)
            return fresh

    def _reloaded(self, ok: bool) -> None:
        if self.on_reload is not None:
            self.on_reload(ok)

    def authorized(self, settings: WebSettings | None, header: str | None) -> bool:
        """Whether a request with this Authorization header may be served."""
        decided = self._decided(settings, header)
        if isinstance(decided, bool):
            return decided
        key, checked, password, known = decided
        with self._bcrypt_lock:
            ok = bcrypt.checkpw(password, checked)
        with self._cache_lock:
            self._cache[key] = ok
            if len(self._cache) > AUTH_CACHE_SIZE:
                self._cache.popitem(last=False)
        return ok and known

    def cached(self, settings: WebSettings | None, header: str | None) -> bool:
        """Whether ``authorized`` answers without a bcrypt check (slow by design): the listener
        answers the others on a thread of their own."""
        return isinstance(self._decided(settings, header), bool)

    def _decided(self, settings: WebSettings | None, header: str | None) -> bool | tuple[bytes, bytes, bytes, bool]:
        """The verdict when no bcrypt check is needed; otherwise what the check takes (the cache
        key, the hash, the password, whether the user exists)."""
        if settings is None or not settings.users:
            return True
        credentials = _basic(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = settings.users.get(user)
        known = hashed is not None
        checked = hashed if hashed is not None else settings.decoy
        if len(password) > BCRYPT_MAX_PASSWORD:
            return False
        # Keyed on a digest so that no password stays in memory; cached because bcrypt is slow by design.
        key = hashlib.sha256(b"\0".join((user.encode(), checked, password))).digest()
        with self._cache_lock:
            ok = self._cache.get(key)
        if ok is not None:
            return ok and known
        return key, checked, password, known


def _basic(header: str | None) -> tuple[str, bytes] | None:
    """user and password of a Basic Authorization header, or None for anything else."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


def hash_password(password: str, cost: int = 10) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
