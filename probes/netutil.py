"""Stream helpers shared by the TCP-based probes, on the probe engine's asyncio loop.

Every helper takes the probe's own monotonic ``deadline`` (the loop's clock is
``time.monotonic``) and never waits past it; a slow or silent peer costs one
socket, never another probe's time. Failures leave as ``ProbeFailure`` with a
reason code, which the probe turns into a failed result.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from probes import result as r

P = TypeVar("P", bound=asyncio.BaseProtocol)


class ProbeFailure(Exception):
    """Raised inside a probe module to stop early; turned into a failed ProbeResult there."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(slots=True)
class Phases:
    """Seconds spent in each phase of one connection, as blackbox_exporter names them."""

    resolve: float = 0.0
    connect: float = 0.0
    tls: float = 0.0


@dataclass(slots=True)
class Stream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: str

    def ssl_object(self) -> ssl.SSLObject | None:
        obj = self.writer.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    def close(self) -> None:
        # abort(), not close(): a peer that stopped reading must not keep the socket in the loop.
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> tuple[int, str] | None:
    # Asked once a check of the same few configured hosts (two inet_pton calls and a split).
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.split("%", 1)[0])
        except OSError:
            continue
        return family, host
    return None


def _sockaddr(family: int, address: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    if family == socket.AF_INET:
        return address, port
    # IPv6: numeric, but a link-local address's scope ("fe80::1%eth0") needs the full sockaddr.
    info = socket.getaddrinfo(address, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    return info[0][4]  # type: ignore[return-value]


async def resolve(host: str, port: int, deadline: float) -> tuple[int, str]:
    """(family, address) of ``host``; IP literals skip the resolver (it costs a thread hop)."""
    lit = _literal(host)
    if lit is not None:
        return lit
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise ProbeFailure(r.TIMEOUT, f"{host}:{port}: name resolution did not finish before the deadline") from None
    except OSError as exc:
        raise classify(exc, f"{host}:{port}") from exc
    infos.sort(key=lambda i: 0 if i[0] == socket.AF_INET else 1)
    return int(infos[0][0]), str(infos[0][4][0])


async def open_transport(
    host: str,
    port: int,
    deadline: float,
    factory: Callable[[], P],
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    phases: Phases | None = None,
) -> tuple[asyncio.Transport, P, str]:
    """Resolve, connect and (with ``tls``) handshake, each phase timed, all bound by ``deadline``;
    the transport, the protocol ``factory`` made for it and the address reached."""
    where = f"{host}:{port}"
    if deadline - time.monotonic() <= 0:
        raise ProbeFailure(r.TIMEOUT, f"{where}: deadline reached before connecting")
    phases = phases if phases is not None else Phases()
    t0 = time.monotonic()
    # An IP literal (most of a data centre's and every zone's checks) skips a coroutine too.
    lit = _literal(host)
    family, address = lit if lit is not None else await resolve(host, port, deadline)
    t1 = time.monotonic()
    phases.resolve += t1 - t0
    loop = asyncio.get_running_loop()
    if tls is None:
        # Plain TCP: the loop connects its own socket (in libuv under uvloop), a third of the CPU of
        # connecting a socket of ours and handing it over; the connect phase is the whole call.
        try:
            async with asyncio.timeout_at(deadline):
                transport, protocol = await loop.create_connection(
                    factory, address, port, family=family, flags=socket.AI_NUMERICHOST
                )
        except BaseException as exc:
            _raise_failure(exc, where)
        phases.connect += time.monotonic() - t1
        return transport, protocol, address
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    handed = False  # once the transport has the socket, closing it is the transport's job (never twice)
    try:
        async with asyncio.timeout_at(deadline):
            await loop.sock_connect(sock, _sockaddr(family, address, port))
            t2 = time.monotonic()
            phases.connect += t2 - t1
            # The handshake starts on the connected socket, before anything reads it: a peer that
            # talks first (a banner where TLS was expected) is seen by TLS, never left unread in a
            # plain stream's buffer while the handshake waits for the deadline.
            handed = True
            transport, protocol = await loop.create_connection(
                factory, sock=sock, ssl=tls, server_hostname=server_hostname or host
            )
            phases.tls += time.monotonic() - t2
    except BaseException as exc:
        if not handed:
            sock.close()
        _raise_failure(exc, where)
    return transport, protocol, address


def _raise_failure(exc: BaseException, where: str) -> NoReturn:
    """Raise what a failed connect means: a timeout, or the error classified; cancellation as it came."""
    if isinstance(exc, TimeoutError):
        raise ProbeFailure(r.TIMEOUT, f"{where}: no answer before the deadline") from None
    if not isinstance(exc, Exception):
        raise exc
    raise classify(exc, where) from exc


async def connect(
    host: str,
    port: int,
    deadline: float,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    phases: Phases | None = None,
) -> Stream:
    """``open_transport`` as asyncio streams, for the probes that read a few lines (TCP, SMTP, TLS)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 16, loop=loop)
    transport, protocol, address = await open_transport(
        host, port, deadline, lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
        tls=tls, server_hostname=server_hostname, phases=phases,
    )  # fmt: skip
    return Stream(reader, asyncio.StreamWriter(transport, protocol, reader, loop), address)


def classify(exc: BaseException, where: str) -> ProbeFailure:
    """Map a socket/SSL exception to a reason code and a message naming ``where``."""
    if isinstance(exc, ProbeFailure):
        # Caught to become a result, it is kept in the frame its traceback holds: a reference cycle
        # per failed check for the collector (thousands a cycle when backhauls are cut). Its reason
        # and text are what is used; the traceback goes.
        return exc.with_traceback(None)
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


async def recv_some(stream: Stream, limit: int, deadline: float, *, stop_at: bytes | None = None) -> bytes:
    """Read up to ``limit`` bytes, stopping at EOF, the deadline or, if given, once ``stop_at`` arrived
    (services that greet, like SSH or SMTP, send one line and then wait for the client)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            while size < limit:
                chunk = await stream.reader.read(min(4096, limit - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if stop_at is not None and stop_at in chunk:
                    break
    except TimeoutError:
        pass  # what arrived before the deadline is the answer
    except OSError:
        pass  # a reset after some bytes: judge what arrived
    return b"".join(chunks)


_VERSION = re.compile(r"\d+\.\d+")


def reveals_version(banner: str) -> bool:
    """Whether a server banner names a version number ("nginx/1.22.1", "OpenSSH_9.2p1")."""
    return _VERSION.search(banner) is not None
