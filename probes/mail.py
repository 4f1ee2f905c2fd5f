"""Mail-domain probe (security audit): the SPF and DMARC records of a configured mail domain.

Asks one configured resolver for the TXT records of the domain (SPF, RFC 7208) and of
``_dmarc.<domain>`` (DMARC, RFC 7489) and reads what they allow: an SPF record that ends in
``+all`` or ``?all`` (or has no ``all`` at all) lets anyone send as the domain; a DMARC policy of
``none`` only watches. The probe fails when either record is missing.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

import dns.message
import dns.rcode
import dns.rdatatype
from msgspec import Meta

from probes import result as r
from probes.dnswire import ask, query
from probes.netutil import ProbeFailure, classify
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Name, Port, Settings
from probes.sightings import Sightings, Thresholds

KIND = "mail"
MISSING_RECORD = "mail_record_missing"

# DMARC policy as a number, strongest last: absent -1, none 0, quarantine 1, reject 2.
POLICIES = {"none": 0.0, "quarantine": 1.0, "reject": 2.0}


class MailSettings(Settings, frozen=True):
    server: Annotated[Name, Meta(description="IP address of the DNS resolver to ask")]
    domain: Annotated[Name, Meta(description="the mail domain (the part after @)")]
    port: Port = 53


METRICS = (
    MetricSpec("spf_present", "mail_spf_present", "1 if the domain publishes one SPF record."),
    MetricSpec(
        "spf_permissive", "mail_spf_permissive", "1 if the SPF record lets any host send (+all, ?all or no all)."
    ),
    MetricSpec("dmarc_present", "mail_dmarc_present", "1 if _dmarc.<domain> publishes a DMARC record."),
    MetricSpec("dmarc_policy", "mail_dmarc_policy", "DMARC policy: -1 absent, 0 none, 1 quarantine, 2 reject."),
)


class _BadAnswer(Exception):
    """The resolver answered, but with an error code other than NXDOMAIN."""


async def _txt(name: str, settings: MailSettings, deadline: float) -> list[str]:
    """The TXT strings at ``name`` (each record's chunks joined); [] for NXDOMAIN or no TXT."""
    response = await ask(query(name, "TXT"), settings.server, settings.port, deadline, tcp=False)
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise _BadAnswer(f"{name} TXT answered {dns.rcode.to_text(response.rcode())}")
    out = []
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rd in rrset:
                out.append(b"".join(rd.strings).decode("utf-8", "replace"))
    return out


def spf_permissive(record: str) -> bool:
    """Whether an SPF record ends up allowing any sender: its ``all`` mechanism passes or is neutral."""
    for term in record.split()[1:]:
        if re.fullmatch(r"[+?]?all", term, re.IGNORECASE):
            return not term.startswith("-") and not term.startswith("~")
        if re.fullmatch(r"[-~]all", term, re.IGNORECASE):
            return False
    return True  # no "all": the default result is neutral


def dmarc_policy(record: str) -> str | None:
    for tag in record.split(";"):
        key, _, value = tag.strip().partition("=")
        if key.strip().lower() == "p":
            return value.strip().lower()
    return None


SETTINGS = MailSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: MailSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.server}:{settings.port}"
    domain = settings.domain.rstrip(".")
    try:
        spf_txt, dmarc_txt = await asyncio.gather(
            _txt(domain, settings, deadline), _txt(f"_dmarc.{domain}", settings, deadline)
        )
        spf = [t for t in spf_txt if t.lower().startswith("v=spf1")]
        dmarc = [t for t in dmarc_txt if t.lower().startswith("v=dmarc1")]
    except TimeoutError:
        return timer.fail(target, KIND, r.TIMEOUT, f"{where}: no answer for {domain} TXT")
    except _BadAnswer as exc:
        return timer.fail(target, KIND, r.PROTOCOL, f"{where}: {exc}")
    except (ProbeFailure, OSError) as exc:  # refused, unreachable, a stray or unreadable answer
        failure = classify(exc, where)
        return timer.fail(target, KIND, failure.reason, str(failure))
    # Two SPF records are a permanent error (RFC 7208 4.5): as bad as none.
    policy = dmarc_policy(dmarc[0]) if len(dmarc) == 1 else None
    values = {
        "spf_present": 1.0 if len(spf) == 1 else 0.0,
        "spf_permissive": 1.0 if len(spf) == 1 and spf_permissive(spf[0]) else 0.0,
        "dmarc_present": 1.0 if len(dmarc) == 1 else 0.0,
        "dmarc_policy": POLICIES.get(policy or "", -1.0),
    }
    labels = {"spf": spf[0][:200] if len(spf) == 1 else "", "dmarc": dmarc[0][:200] if len(dmarc) == 1 else ""}
    missing = [name for name, key in (("SPF", "spf_present"), ("DMARC", "dmarc_present")) if not values[key]]
    if missing:
        return timer.fail(
            target, KIND, MISSING_RECORD, f"{domain}: no valid {' or '.join(missing)} record", values, labels
        )
    return timer.ok(target, KIND, values, labels)


def findings(res: ProbeResult, settings: MailSettings, thresholds: Thresholds, now: float) -> Sightings:
    """The domain's SPF and DMARC records: missing, too permissive, or a policy of none."""
    s, v, domain = Sightings(), res.values, settings.domain
    if "spf_present" not in v:
        return s
    s.look(domain, "spf_missing", "spf_permissive", "dmarc_missing", "dmarc_policy_none")
    if v["spf_present"] == 0.0:
        s.see("spf_missing", domain, "no single v=spf1 TXT record")
    elif v["spf_permissive"] == 1.0:
        s.see("spf_permissive", domain, res.labels.get("spf", ""))
    if v["dmarc_present"] == 0.0:
        s.see("dmarc_missing", domain, f"no v=DMARC1 TXT record at _dmarc.{domain}")
    elif v["dmarc_policy"] == 0.0:
        s.see("dmarc_policy_none", domain, res.labels.get("dmarc", ""))
    return s
