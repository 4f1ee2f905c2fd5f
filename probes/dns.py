"""DNS probe (dnspython): ask one server one question, check rcode and answers."""

from __future__ import annotations

from typing import Annotated, Literal

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import msgspec
from msgspec import Meta

from kernel.spec import FieldError, normalise
from probes import result as r
from probes.dnswire import ask, query
from probes.netutil import ProbeFailure, classify
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Name, Port, Settings

KIND = "dns"


class DnsSettings(Settings, frozen=True):
    server: Annotated[Name, Meta(description="IP address of the DNS server to ask")]
    name: Name
    port: Port = 53
    type: str = "A"
    transport: Literal["udp", "tcp"] = "udp"
    recursion: bool = True
    expect_rcode: str = "NOERROR"
    # each must be among the answer records (text form)
    expect_answers: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        try:
            dns.rdatatype.from_text(self.type)
        except dns.rdatatype.UnknownRdatatype:
            raise FieldError("type", f"unknown record type {self.type!r}") from None
        try:
            dns.rcode.from_text(self.expect_rcode)
        except dns.rcode.UnknownRcode:
            raise FieldError("expect_rcode", f"unknown rcode {self.expect_rcode!r}") from None
        normalise(self, "type", self.type.upper())
        normalise(self, "expect_rcode", self.expect_rcode.upper())


METRICS = (
    MetricSpec("answers", "dns_answer_records", "Records in the answer section."),
    MetricSpec("rcode", "dns_rcode", "Response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...)."),
)


SETTINGS = DnsSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: DnsSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.server}:{settings.port}"
    question = query(settings.name, settings.type, recursion=settings.recursion)
    try:
        response = await ask(question, settings.server, settings.port, deadline, tcp=settings.transport == "tcp")
    except TimeoutError:
        return timer.fail(target, KIND, r.TIMEOUT, f"{where}: no answer for {settings.name} {settings.type}")
    except (ProbeFailure, OSError) as exc:  # refused, unreachable, a stray or unreadable answer
        failure = classify(exc, where)
        return timer.fail(target, KIND, failure.reason, str(failure))
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
