"""Zone agents on the wire: what a batch of results may hold, and how its times are trusted.

An agent on a zone's LAN measures the zone as a citizen meets it, keeps every result in its
outbox with a sequence number of its own (store.outbox) and pushes batches to the centre. A batch
is refused whole when anything in it is out of shape (the field is named), so nothing of a bad
batch is stored. The centre compares the agent's clock with its own when a batch arrives (as a
Zabbix proxy's data is): beyond ``SKEW_CORRECTED`` the measurement times are shifted by the offset
and the skew recorded; a result whose corrected time is in the future or older than the spool
could hold is refused with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError

from domain.zones import ZoneAgent
from kernel.model import Strict
from probes.result import ProbeResult

MAX_RESULTS = 5000  # results per batch
MAX_BODY = 4 * 2**20  # bytes of a batch, uncompressed; the compressed body is capped too
SKEW_CORRECTED = 2.0  # seconds: beyond this the centre shifts the agent's times
MAX_AGE = 8 * 86400.0  # a result older than the agent's spool could keep (7 days) plus a day
FUTURE = 60.0  # seconds a corrected time may run ahead of the centre's clock
TOKEN_BYTES = 32

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
# A number on the wire: NaN and infinities refused by name (no time or value of a check is one).
Finite = Annotated[float, Field(allow_inf_nan=False)]


class AgentResult(Strict):
    seq: int = Field(ge=1, le=2**62)
    at: Finite = Field(gt=0, description="measurement time, unix seconds by the agent's clock")
    check: Name
    probe: Name
    success: bool
    duration: Finite = Field(ge=0, le=3600)
    reason: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=500)
    values: dict[Name, Finite] = Field(default_factory=dict, max_length=64)
    labels: dict[Name, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict, max_length=16)


class AgentBatch(Strict):
    zone: Name
    version: str = Field(max_length=40)
    sent_at: Finite = Field(gt=0, description="the agent's clock when it sent the batch")
    boot_time: Finite = Field(gt=0, description="when the agent's machine last booted (its clock)")
    clock_synced: bool
    dropped: int = Field(default=0, ge=0, description="results the full outbox dropped, not yet reported")
    backlog: int = Field(default=0, ge=0, description="results in the agent's outbox as it sent, this batch's too")
    results: list[AgentResult] = Field(max_length=MAX_RESULTS)


class BatchRefused(ValueError):
    """A batch the centre will not store, and why (a field, a time); nothing of it is kept."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def parse(body: bytes) -> AgentBatch:
    """A batch from its JSON; BatchRefused("schema", the first field that does not fit)."""
    try:
        return AgentBatch.model_validate_json(body)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BatchRefused("schema", f"{where}: {first['msg']}") from None


def offset(batch: AgentBatch, received_at: float) -> float:
    """What to add to the agent's times to get the centre's: 0 within SKEW_CORRECTED."""
    skew = received_at - batch.sent_at
    return skew if abs(skew) > SKEW_CORRECTED else 0.0


def corrected(batch: AgentBatch, received_at: float) -> list[tuple[AgentResult, float]]:
    """Each result with its measurement time on the centre's clock; BatchRefused("time", ...) for
    one that is in the future or older than any spool keeps."""
    shift = offset(batch, received_at)
    out = []
    for r in batch.results:
        at = r.at + shift
        if at > received_at + FUTURE:
            raise BatchRefused("time", f"result {r.seq} measured {at - received_at:.0f} s in the future")
        if at < received_at - MAX_AGE:
            raise BatchRefused("time", f"result {r.seq} measured {(received_at - at) / 86400:.1f} days ago")
        out.append((r, at))
    return out


def as_result(check: str, probe: str, at: float, duration: float, success: bool, reason: str, message: str,
              data: Mapping[str, Any]) -> ProbeResult:  # fmt: skip
    """An agent's result as a probe result (its check the target) at its time on the centre's
    clock; ``data`` its values and labels as stored ({"values": ..., "labels": ...})."""
    return ProbeResult(check, probe, datetime.fromtimestamp(at, UTC), duration, success, reason, message,
                       dict(data.get("values", {})), dict(data.get("labels", {})))  # fmt: skip


def result_of(r: AgentResult, at: float) -> ProbeResult:
    return as_result(r.check, r.probe, at, r.duration, r.success, r.reason, r.message,
                     {"values": r.values, "labels": r.labels})  # fmt: skip


# Seconds an agent may be quiet before a month's end and still count as having delivered it.
QUIET_AT_CLOSE = 300.0


def holds_data(last_push_at: float | None, backlog: int, until: float) -> bool:
    """Whether an agent may still hold results measured before ``until`` (a month's end): it
    reported results waiting in its outbox, or it has been silent since before then (what it
    measured meanwhile is spooled, or lost with its power). An agent that never pushed holds nothing
    the centre knows of."""
    if last_push_at is None:
        return False
    return backlog > 0 or last_push_at < until - QUIET_AT_CLOSE


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the centre stores: a token is printed once and never kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant time: how long the comparison takes says nothing of how much of a token was right."""
    return hmac.compare_digest(token_hash(token), stored_hash)


class TokenIndex:
    """Live agents' token hashes, looked up by the hash of the token a request shows.

    One dictionary lookup whatever the number of agents (a thousand zones cost a batch no more than
    one): the key looked up is the SHA-256 of the presented token, so how long the lookup takes
    says nothing an attacker can use (matching a prefix of a hash gets no nearer to a token), and
    the match found is compared again in constant time."""

    def __init__(self, hashes: Mapping[str, str]) -> None:
        self.hashes = dict(hashes)  # zone -> hash
        self._zones = {digest: zone for zone, digest in hashes.items()}

    def owner(self, token: str) -> str | None:
        """The zone whose live token this is; None for no token or no live one."""
        if not token:
            return None
        digest = token_hash(token)
        zone = self._zones.get(digest)
        if zone is None or not hmac.compare_digest(digest, self.hashes[zone]):
            return None
        return zone


@dataclass(frozen=True)
class AgentCheck:
    """One check the agent runs: its name (gateway, dns, portal, internet:<anchor>, throughput,
    access_points), the probe kind, that kind's settings, how often and for how long."""

    check: str
    probe: str
    settings: Mapping[str, object]
    interval: float
    timeout: float


def checks_of(agent: ZoneAgent, packets: int = 5) -> list[AgentCheck]:
    """The checks a zone's ``agent:`` entry asks for, in the order they are listed to the agent."""
    every, timeout = agent.interval, agent.timeout
    out: list[AgentCheck] = []
    if agent.gateway:
        out.append(AgentCheck("gateway", "icmp", {"address": agent.gateway, "packets": packets}, every, timeout))
    if agent.dns is not None:
        server = agent.dns.server or agent.gateway
        dns = {"server": server, "name": agent.dns.name, "type": agent.dns.type,
               "expect_answers": list(agent.dns.expect_answers)}  # fmt: skip
        out.append(AgentCheck("dns", "dns", dns, every, timeout))
    if agent.portal_url:
        portal: dict[str, object] = {"url": agent.portal_url}
        if agent.portal_text is not None:
            portal["body_regex"] = agent.portal_text
        out.append(AgentCheck("portal", "http", portal, every, timeout))
    for anchor in agent.anchors:
        if anchor.startswith(("http://", "https://")):
            out.append(AgentCheck(f"internet:{anchor}", "http", {"url": anchor}, every, timeout))
        else:
            out.append(AgentCheck(f"internet:{anchor}", "icmp", {"address": anchor, "packets": 3}, every, timeout))
    if agent.throughput_url:
        fetch = {"url": agent.throughput_url, "max_body_bytes": agent.throughput_bytes}
        out.append(AgentCheck("throughput", "http", fetch, agent.throughput_every, max(timeout, 60.0)))
    if agent.access_points is not None:
        out.append(AgentCheck("access_points", "snmp", dict(agent.access_points), every, timeout))
    return out


def checks_document(zone: str, checks: list[AgentCheck]) -> bytes:
    """What GET /api/v1/agents/<zone>/checks answers: stable bytes, so their hash is an ETag."""
    body = {"zone": zone, "checks": [{"check": c.check, "probe": c.probe, "settings": dict(c.settings),
                                      "interval": c.interval, "timeout": c.timeout} for c in checks]}  # fmt: skip
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
