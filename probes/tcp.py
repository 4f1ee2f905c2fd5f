"""TCP probe: connect time, optional payload to send and expected banner."""

from __future__ import annotations

import re

from pydantic import Field

from probes import result as r
from probes.netutil import ProbeFailure, classify, connect, recv_some
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Regex, Settings

KIND = "tcp"


class TcpSettings(Settings):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    send: str | None = Field(default=None, description="text sent after connecting (\\n allowed)")
    expect: Regex | None = Field(default=None, description="regex the first bytes received must match")
    read_bytes: int = Field(default=1024, ge=1, le=65536)


METRICS = (MetricSpec("connect_seconds", "tcp_connect_seconds", "Time to establish the TCP connection."),)


def probe(target: str, settings: TcpSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.host}:{settings.port}"
    values: dict[str, float] = {}
    try:
        sock = connect(settings.host, settings.port, deadline)
        values["connect_seconds"] = timer.elapsed()
        with sock:
            if settings.send is not None:
                sock.sendall(settings.send.encode())
            if settings.expect is not None:
                data = recv_some(sock, settings.read_bytes, deadline)
                text = data.decode("utf-8", "replace")
                if re.search(settings.expect, text) is None:
                    shown = text[:80].strip() or "nothing"
                    reason = r.BANNER_MISMATCH if data else r.TIMEOUT
                    raise ProbeFailure(reason, f"{where}: expected /{settings.expect}/, got {shown!r}")
    except Exception as exc:  # any failure of the target is data
        failure = classify(exc, where)
        return timer.fail(target, KIND, failure.reason, str(failure), values)
    return timer.ok(target, KIND, values)
