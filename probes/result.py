"""The data every probe returns, and how its values are exposed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec
import msgspec.structs

from kernel.redact import redact

# Reason codes for a failed probe: stable strings, stored and exported as labels.
TIMEOUT: Final = "timeout"
REFUSED: Final = "refused"
UNREACHABLE: Final = "unreachable"
CONNECTION: Final = "connection"
DNS: Final = "dns"
TLS: Final = "tls"
CERT_EXPIRED: Final = "cert_expired"
CERT_UNTRUSTED: Final = "cert_untrusted"
CERT_NAME_MISMATCH: Final = "cert_name_mismatch"
HTTP_STATUS: Final = "http_status"
BODY_MISMATCH: Final = "body_mismatch"
BANNER_MISMATCH: Final = "banner_mismatch"
ANSWER_MISMATCH: Final = "answer_mismatch"
RCODE: Final = "rcode"
PERMISSION: Final = "permission"
LOSS: Final = "loss"
PROTOCOL: Final = "protocol"
TOO_LARGE: Final = "too_large"
REDIRECT: Final = "redirect"
OVERRUN: Final = "overrun"
LATE: Final = "late"
INTERNAL: Final = "internal"


# Each reason in words, for outputs others read (the JSON API): the probe's own message names its URL
# with its query, its host:port, a body regex, which belong to the configuration and the logs only.
REASON_TEXT: Final = {
    TIMEOUT: "no answer before the check's deadline",
    REFUSED: "connection refused",
    UNREACHABLE: "host or network unreachable",
    CONNECTION: "the connection failed or was reset",
    DNS: "the name could not be resolved",
    TLS: "the TLS handshake failed",
    CERT_EXPIRED: "the certificate has expired or is not yet valid",
    CERT_UNTRUSTED: "the certificate is not trusted",
    CERT_NAME_MISMATCH: "the certificate is for another name",
    HTTP_STATUS: "unexpected HTTP status",
    BODY_MISMATCH: "the page did not have the expected content",
    BANNER_MISMATCH: "the service answered with an unexpected greeting",
    ANSWER_MISMATCH: "the DNS answer was not the expected one",
    RCODE: "the DNS server answered with an error",
    PERMISSION: "vigia lacks the privilege for this check",
    LOSS: "packets were lost",
    PROTOCOL: "the peer broke the protocol",
    TOO_LARGE: "the answer was larger than allowed",
    REDIRECT: "unexpected redirect",
    OVERRUN: "vigia could not start the check in time",
    LATE: "vigia was too busy to watch the check to its deadline",
    INTERNAL: "vigia could not run the check",
}
# Values a public text may quote: plain numbers that say nothing of where the check goes.
_QUOTED: Final = {HTTP_STATUS: ("status_code", "status {:.0f}"), RCODE: ("rcode", "code {:.0f}")}


def public_text(reason: str, values: dict[str, float]) -> str:
    """A failure in words that never carry a probe's settings ("" for a success)."""
    if not reason:
        return ""
    text = REASON_TEXT.get(reason, "the check failed")
    quoted = _QUOTED.get(reason)
    if quoted is not None and quoted[0] in values:
        text += f" ({quoted[1].format(values[quoted[0]])})"
    return text


@dataclass(frozen=True, slots=True)
class Series:
    """A value with labels of its own (a filesystem, an interface)."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


class ProbeResult(msgspec.Struct, frozen=True):
    """Outcome of one probe of one target.

    ``values`` holds named numbers in base units (seconds, bytes, ratios);
    ``labels`` short descriptive strings (certificate issuer, TLS version) for
    info metrics; ``series`` values that carry labels of their own. No field
    ever mixes types.

    A msgspec struct, not a dataclass: every check of the daemon makes one, and msgspec builds it
    in C (~0.1 us) where a frozen dataclass's ``__init__`` sets each field through a Python call
    (~0.8 us; at 5,000 ICMP targets a cycle, a tenth of the engine's own instructions per probe).
    """

    target: str
    probe: str
    started_at: datetime
    duration: float
    success: bool
    reason: str = ""
    message: str = ""
    values: dict[str, float] = msgspec.field(default_factory=dict)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    series: tuple[Series, ...] = ()

    def restamped(self, started_at: datetime, duration: float) -> ProbeResult:
        """The same result on another clock."""
        return msgspec.structs.replace(self, started_at=started_at, duration=duration)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one named value of a probe is exposed; the metrics module builds the family.

    ``key`` is a key of ``ProbeResult.values`` or a ``Series.name``;
    ``const_labels`` tell several keys apart inside one metric (stat="min").
    """

    key: str
    metric: str
    help: str
    kind: str = "gauge"  # or "counter"
    const_labels: tuple[tuple[str, str], ...] = ()


class Timer:
    """Measures one probe: UTC wall-clock start, monotonic duration."""

    __slots__ = ("_t0", "started_at")

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def ok(
        self,
        target: str,
        probe: str,
        values: dict[str, float] | None = None,
        labels: dict[str, str] | None = None,
        series: tuple[Series, ...] = (),
    ) -> ProbeResult:
        # An ok result has no message to redact (every healthy check of the daemon comes here).
        return ProbeResult(target, probe, self.started_at, time.monotonic() - self._t0, True, "", "",
                           {} if values is None else values, {} if labels is None else labels, series)  # fmt: skip

    def fail(
        self,
        target: str,
        probe: str,
        reason: str,
        message: str,
        values: dict[str, float] | None = None,
        labels: dict[str, str] | None = None,
    ) -> ProbeResult:
        # messages are stored, logged and exported: never a URL's password
        return ProbeResult(target, probe, self.started_at, self.elapsed(), False, reason, redact(message),
                           {} if values is None else values, {} if labels is None else labels)  # fmt: skip


def remaining(deadline: float) -> float:
    """Seconds left until a monotonic ``deadline`` (never negative)."""
    return max(0.0, deadline - time.monotonic())
