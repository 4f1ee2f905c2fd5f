"""TCP probe: connect time, optional payload to send and expected banner."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from msgspec import Meta

from probes import result as r
from probes.netutil import ProbeFailure, classify, connect, open_transport, recv_some, reveals_version
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Name, Pattern, Port, Settings
from probes.sightings import Sightings, Thresholds

KIND = "tcp"


class TcpSettings(Settings, frozen=True):
    host: Name
    port: Port
    send: str | None = None  # text sent after connecting (\\n allowed)
    expect: Pattern | None = None  # what the first bytes received must match
    read_bytes: Annotated[int, Meta(ge=1, le=65536)] = 1024
    # security audit: read the greeting and report whether it names a version
    check_banner: bool = False


METRICS = (
    MetricSpec("connect_seconds", "tcp_connect_seconds", "Time to establish the TCP connection."),
    MetricSpec("banner_reveals_version", "tcp_banner_reveals_version", "1 if the server's greeting names a version."),
)


SETTINGS = TcpSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: TcpSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.host}:{settings.port}"
    values: dict[str, float] = {}
    labels: dict[str, str] = {}
    try:
        if settings.send is None and settings.expect is None and not settings.check_banner:
            # A connect check (most of them): a bare protocol, not asyncio's streams, which build a
            # reader, a protocol and a writer for bytes that are never read.
            transport, _, _ = await open_transport(settings.host, settings.port, deadline, asyncio.Protocol)
            values["connect_seconds"] = timer.elapsed()
            transport.abort()
            return timer.ok(target, KIND, values, labels)
        stream = await connect(settings.host, settings.port, deadline)
        values["connect_seconds"] = timer.elapsed()
        try:
            if settings.send is not None:
                stream.writer.write(settings.send.encode())
            if settings.expect is not None or settings.check_banner:
                # Only the greeting's first line when just the banner is wanted; ``expect`` reads as before.
                first_line = b"\n" if settings.expect is None else None
                data = await recv_some(stream, settings.read_bytes, deadline, stop_at=first_line)
                text = data.decode("utf-8", "replace")
                if settings.check_banner:
                    values["banner_reveals_version"] = 1.0 if reveals_version(text) else 0.0
                    labels["banner"] = text.strip()[:120]
                if settings.expect is not None and re.search(settings.expect, text) is None:
                    shown = text[:80].strip() or "nothing"
                    reason = r.BANNER_MISMATCH if data else r.TIMEOUT
                    raise ProbeFailure(reason, f"{where}: expected /{settings.expect}/, got {shown!r}")
        finally:
            stream.close()
    except Exception as exc:  # any failure of the target is data
        failure = classify(exc, where)
        return timer.fail(target, KIND, failure.reason, str(failure), values)
    return timer.ok(target, KIND, values, labels)


def findings(res: ProbeResult, settings: TcpSettings, thresholds: Thresholds, now: float) -> Sightings:
    """A greeting banner that names its version."""
    s = Sightings()
    s.banner(res, "banner_reveals_version", "banner")
    return s
