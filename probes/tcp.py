"""TCP probe: connect time, optional payload to send and expected banner."""

from __future__ import annotations

import re
import socket

from pydantic import Field

from probes import result as r
from probes.netutil import ProbeFailure, classify, connect, reveals_version
from probes.result import MetricSpec, ProbeResult, Timer, remaining
from probes.settings import Regex, Settings

KIND = "tcp"


class TcpSettings(Settings):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    send: str | None = Field(default=None, description="text sent after connecting (\\n allowed)")
    expect: Regex | None = Field(default=None, description="regex the first bytes received must match")
    read_bytes: int = Field(default=1024, ge=1, le=65536)
    check_banner: bool = Field(
        default=False, description="security audit: read the greeting and report whether it names a version"
    )


METRICS = (
    MetricSpec("connect_seconds", "tcp_connect_seconds", "Time to establish the TCP connection."),
    MetricSpec("banner_reveals_version", "tcp_banner_reveals_version", "1 if the server's greeting names a version."),
)


def _greeting(sock: socket.socket, limit: int, deadline: float) -> bytes:
    """Up to the server's first newline: services that greet (SSH, SMTP, FTP) send it, then wait for us."""
    data = b""
    while b"\n" not in data and len(data) < limit:
        left = remaining(deadline)
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(limit - len(data))
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


def probe(target: str, settings: TcpSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.host}:{settings.port}"
    values: dict[str, float] = {}
    labels: dict[str, str] = {}
    try:
        sock = connect(settings.host, settings.port, deadline)
        values["connect_seconds"] = timer.elapsed()
        with sock:
            if settings.send is not None:
                sock.sendall(settings.send.encode())
            if settings.expect is not None or settings.check_banner:
                data = _greeting(sock, settings.read_bytes, deadline)
                text = data.decode("utf-8", "replace")
                if settings.check_banner:
                    values["banner_reveals_version"] = 1.0 if reveals_version(text) else 0.0
                    labels["banner"] = text.strip()[:120]
                if settings.expect is not None and re.search(settings.expect, text) is None:
                    shown = text[:80].strip() or "nothing"
                    reason = r.BANNER_MISMATCH if data else r.TIMEOUT
                    raise ProbeFailure(reason, f"{where}: expected /{settings.expect}/, got {shown!r}")
    except Exception as exc:  # any failure of the target is data
        failure = classify(exc, where)
        return timer.fail(target, KIND, failure.reason, str(failure), values)
    return timer.ok(target, KIND, values, labels)
