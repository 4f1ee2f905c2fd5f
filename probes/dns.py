"""DNS probe (dnspython): ask one server one question, check rcode and answers."""

from __future__ import annotations

import asyncio

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from pydantic import Field, field_validator

from probes import result as r
from probes.result import MetricSpec, ProbeResult, Timer, remaining
from probes.settings import Settings

KIND = "dns"


class DnsSettings(Settings):
    server: str = Field(min_length=1, description="IP address of the DNS server to ask")
    port: int = Field(default=53, ge=1, le=65535)
    name: str = Field(min_length=1)
    type: str = "A"
    transport: str = Field(default="udp", pattern="^(udp|tcp)$")
    recursion: bool = True
    expect_rcode: str = "NOERROR"
    expect_answers: list[str] = Field(
        default_factory=list, description="each must be among the answer records (text form)"
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            dns.rdatatype.from_text(value)
        except dns.rdatatype.UnknownRdatatype:
            raise ValueError(f"unknown record type {value!r}") from None
        return value.upper()

    @field_validator("expect_rcode")
    @classmethod
    def _known_rcode(cls, value: str) -> str:
        try:
            dns.rcode.from_text(value)
        except dns.rcode.UnknownRcode:
            raise ValueError(f"unknown rcode {value!r}") from None
        return value.upper()


METRICS = (
    MetricSpec("answers", "dns_answer_records", "Records in the answer section."),
    MetricSpec("rcode", "dns_rcode", "Response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...)."),
)


SETTINGS = DnsSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: DnsSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.server}:{settings.port}"
    query = dns.message.make_query(settings.name, settings.type)
    if not settings.recursion:
        query.flags &= ~dns.flags.RD
    try:
        left = remaining(deadline)
        if left <= 0:
            return timer.fail(target, KIND, r.TIMEOUT, f"{where}: deadline reached")
        ask = dns.asyncquery.tcp if settings.transport == "tcp" else dns.asyncquery.udp
        async with asyncio.timeout_at(deadline):
            response = await ask(query, settings.server, timeout=left, port=settings.port)
    except (dns.exception.Timeout, TimeoutError):
        return timer.fail(target, KIND, r.TIMEOUT, f"{where}: no answer for {settings.name} {settings.type}")
    except ConnectionRefusedError:
        return timer.fail(target, KIND, r.REFUSED, f"{where}: connection refused")
    except (OSError, dns.exception.DNSException) as exc:
        return timer.fail(target, KIND, r.PROTOCOL, f"{where}: {type(exc).__name__}: {exc}")
    rcode = response.rcode()
    records = [rd.to_text() for rrset in response.answer for rd in rrset]
    values = {"answers": float(len(records)), "rcode": float(rcode)}
    if rcode != dns.rcode.from_text(settings.expect_rcode):
        return timer.fail(
            target,
            KIND,
            r.RCODE,
            f"{where}: {settings.name} {settings.type} answered {dns.rcode.to_text(rcode)}, "
            f"expected {settings.expect_rcode}",
            values,
        )
    missing = [a for a in settings.expect_answers if a not in records]
    if missing:
        return timer.fail(
            target,
            KIND,
            r.ANSWER_MISMATCH,
            f"{where}: {settings.name} {settings.type} lacks {', '.join(missing)} (got {', '.join(records) or 'none'})",
            values,
        )
    return timer.ok(target, KIND, values)
