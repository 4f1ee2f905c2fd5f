"""Socket helpers shared by the TCP-based probes: deadline-bound connect and error mapping."""

from __future__ import annotations

import errno
import re
import socket
import ssl

from probes import result as r
from probes.result import remaining


class ProbeFailure(Exception):
    """Raised inside a probe module to stop early; turned into a failed ProbeResult there."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def connect(host: str, port: int, deadline: float) -> socket.socket:
    """TCP connect bound by a monotonic deadline; raises ProbeFailure with a reason code."""
    left = remaining(deadline)
    if left <= 0:
        raise ProbeFailure(r.TIMEOUT, "deadline reached before connecting")
    try:
        sock = socket.create_connection((host, port), timeout=left)
    except BaseException as exc:
        raise classify(exc, f"{host}:{port}") from exc
    return sock


def classify(exc: BaseException, where: str) -> ProbeFailure:
    """Map a socket/SSL exception to a reason code and a message naming ``where``."""
    if isinstance(exc, ProbeFailure):
        return exc
    if isinstance(exc, socket.gaierror):
        return ProbeFailure(r.DNS, f"cannot resolve {where}: {exc.strerror}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return ProbeFailure(r.TIMEOUT, f"{where}: no answer before the deadline")
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0)
        text = getattr(exc, "verify_message", "") or str(exc)
        if code == 10:
            return ProbeFailure(r.CERT_EXPIRED, f"{where}: certificate has expired")
        if code == 62 or "mismatch" in text.lower():
            return ProbeFailure(r.CERT_NAME_MISMATCH, f"{where}: {text}")
        return ProbeFailure(r.CERT_UNTRUSTED, f"{where}: {text}")
    if isinstance(exc, ssl.SSLError):
        return ProbeFailure(r.TLS, f"{where}: TLS handshake failed: {exc.reason or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeFailure(r.REFUSED, f"{where}: connection refused")
    if isinstance(exc, OSError) and exc.errno in (
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
    ):
        return ProbeFailure(r.UNREACHABLE, f"{where}: {exc.strerror}")
    if isinstance(exc, OSError):
        return ProbeFailure(r.CONNECTION, f"{where}: {exc.strerror or exc}")
    return ProbeFailure(r.INTERNAL, f"{where}: {type(exc).__name__}: {exc}")


def recv_some(sock: socket.socket, limit: int, deadline: float, *, stop_at: bytes | None = None) -> bytes:
    """Read up to ``limit`` bytes, stopping at EOF, the deadline or, if given, once ``stop_at`` arrived
    (services that greet, like SSH or SMTP, send one line and then wait for the client)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        left = remaining(deadline)
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(4096, limit - size))
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if stop_at is not None and stop_at in chunk:
            break
    return b"".join(chunks)


_VERSION = re.compile(r"\d+\.\d+")


def reveals_version(banner: str) -> bool:
    """Whether a server banner names a version number ("nginx/1.22.1", "OpenSSH_9.2p1")."""
    return _VERSION.search(banner) is not None
