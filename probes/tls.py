"""TLS probe: certificate expiry, issuer, name match and negotiated protocol version.

The handshake is verified first (chain, name, validity); when verification
fails a second, unverified handshake still reads the certificate so that an
expired or self-signed certificate's dates and issuer are reported.
"""

from __future__ import annotations

import functools
import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from probes import result as r
from probes.netutil import ProbeFailure, classify, connect
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Name, Port, Settings
from probes.sightings import DAY, Sightings, Thresholds

if TYPE_CHECKING:
    from cryptography import x509

KIND = "tls"


class TlsSettings(Settings, frozen=True):
    host: Name
    port: Port = 443
    server_name: str | None = None  # SNI and name to match; host if unset
    ca_file: str | None = None
    # also try TLS 1.0 and 1.1 handshakes (security audit): two more connections
    check_legacy: bool = False


METRICS = (
    MetricSpec(
        "tls_certificate_expiry_timestamp_seconds",
        "tls_certificate_expiry_timestamp_seconds",
        "Unix time the leaf certificate presented by the target expires.",
    ),
    MetricSpec(
        "tls_certificate_not_before_timestamp_seconds",
        "tls_certificate_not_before_timestamp_seconds",
        "Unix time the leaf certificate presented by the target became valid.",
    ),
    MetricSpec(
        "tls_name_match", "tls_certificate_name_match", "1 if the certificate is valid for the configured server name."
    ),
    MetricSpec(
        "tls_verified",
        "tls_certificate_verified",
        "1 if the chain verified against the trust store and the name matched.",
    ),
    MetricSpec("tls_key_bits", "tls_certificate_key_bits", "Size of the leaf certificate's public key."),
    MetricSpec("tls_self_signed", "tls_certificate_self_signed", "1 if the leaf certificate is its own issuer."),
    MetricSpec(
        "tls_accepts_tls10",
        "tls_legacy_protocol_accepted",
        "1 if the server still completes a handshake with an obsolete protocol version.",
        const_labels=(("version", "TLSv1.0"),),
    ),
    MetricSpec("tls_accepts_tls11", "tls_legacy_protocol_accepted", "", const_labels=(("version", "TLSv1.1"),)),
)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    not_before: float
    not_after: float
    subject: str
    issuer: str
    self_signed: bool
    key_type: str
    key_bits: int
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def _name(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID

    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return name.rfc4514_string()


def certificate_facts(der: bytes) -> CertificateFacts:
    # cryptography (about 10 MB) is loaded by the first certificate read, not by every daemon.
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, bits = "rsa", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, bits = "ec", key.curve.key_size
    else:
        key_type, bits = type(key).__name__.lower(), 0
    dns_names: list[str] = []
    ips: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(i) for i in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return CertificateFacts(
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        self_signed=cert.issuer == cert.subject,
        key_type=key_type,
        key_bits=bits,
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ips),
    )


def name_matches(facts: CertificateFacts, name: str) -> bool:
    """RFC 6125 matching against the SANs: exact, or one left-most wildcard label."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(a) == ip for a in facts.ip_addresses)
    host = name.lower().rstrip(".")
    for pattern in (n.lower().rstrip(".") for n in facts.dns_names):
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == pattern[2:]:
                return True
    return False


async def _handshake(settings: TlsSettings, verify: bool, deadline: float) -> tuple[bytes, str, str]:
    name = settings.server_name or settings.host
    ctx = client_context(settings.ca_file, verify)
    # An IP address here is matched against IP SANs and sent without SNI by the ssl module.
    stream = await connect(settings.host, settings.port, deadline, tls=ctx, server_hostname=name)
    try:
        tls = stream.ssl_object()
        if tls is None:
            raise ProbeFailure(r.TLS, f"{settings.host}:{settings.port}: no TLS session")
        der = tls.getpeercert(binary_form=True) or b""
        return der, tls.version() or "", (tls.cipher() or ("", "", 0))[0]
    finally:
        stream.close()


@functools.lru_cache(maxsize=64)
def client_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """One client context per trust setting: loading the CA store costs milliseconds, a handshake not."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@functools.lru_cache(maxsize=4)
def _legacy_context(version: ssl.TLSVersion) -> ssl.SSLContext | None:
    """A client pinned to an obsolete ``version``; None if this OpenSSL cannot even offer it.

    The client lowers its own security level for this one handshake only: the question is what the
    server accepts, not whether vigia would use it.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pinning an old version is the point here
            ctx.minimum_version = ctx.maximum_version = version
    except (ValueError, ssl.SSLError):
        return None
    return ctx


async def _accepts(settings: TlsSettings, version: ssl.TLSVersion, deadline: float) -> bool | None:
    """Whether the server completes a handshake pinned to ``version``; None if unknown."""
    ctx = _legacy_context(version)
    if ctx is None:
        return None
    try:
        stream = await connect(
            settings.host, settings.port, deadline, tls=ctx, server_hostname=settings.server_name or settings.host
        )
    except ProbeFailure as exc:
        # Refused or timed out says nothing about the protocol; a failed handshake says "no".
        return False if exc.reason in (r.TLS, r.CONNECTION) else None
    stream.close()
    return True


SETTINGS = TlsSettings  # what probes.REGISTRY validates a check of this kind with


async def probe(target: str, settings: TlsSettings, *, deadline: float) -> ProbeResult:
    timer = Timer()
    where = f"{settings.host}:{settings.port}"
    name = settings.server_name or settings.host
    failure: ProbeFailure | None = None
    try:
        der, version, cipher = await _handshake(settings, True, deadline)
    except Exception as exc:  # any failure of the target is data
        failure = classify(exc, where)
        if failure.reason not in (r.CERT_EXPIRED, r.CERT_UNTRUSTED, r.CERT_NAME_MISMATCH):
            return timer.fail(target, KIND, failure.reason, str(failure))
        try:
            der, version, cipher = await _handshake(settings, False, deadline)
        except Exception as exc2:
            second = classify(exc2, where)
            return timer.fail(target, KIND, failure.reason, f"{failure}; then {second}")
    if not der:
        return timer.fail(target, KIND, r.TLS, f"{where}: no certificate presented")
    facts = certificate_facts(der)
    values = {
        "tls_certificate_expiry_timestamp_seconds": facts.not_after,
        "tls_certificate_not_before_timestamp_seconds": facts.not_before,
        "tls_name_match": 1.0 if name_matches(facts, name) else 0.0,
        "tls_verified": 0.0 if failure else 1.0,
        "tls_key_bits": float(facts.key_bits),
        "tls_self_signed": 1.0 if facts.self_signed else 0.0,
    }
    labels = {
        "issuer": facts.issuer,
        "subject": facts.subject,
        "version": version,
        "cipher": cipher,
        "key_type": facts.key_type,
    }
    if settings.check_legacy:
        for key, proto in (("tls_accepts_tls10", ssl.TLSVersion.TLSv1), ("tls_accepts_tls11", ssl.TLSVersion.TLSv1_1)):
            accepted = await _accepts(settings, proto, deadline)
            if accepted is not None:
                values[key] = 1.0 if accepted else 0.0
    if failure is not None:
        return timer.fail(target, KIND, failure.reason, str(failure), values, labels)
    return timer.ok(target, KIND, values, labels)


def _expiry_severity(left: float, thresholds: Thresholds) -> str:
    low, mid, high = thresholds.expiry_days
    for days, severity in ((high, "alta"), (mid, "media"), (low, "baja")):
        if left <= days * DAY:
            return severity
    return ""


def findings(res: ProbeResult, settings: TlsSettings, thresholds: Thresholds, now: float) -> Sightings:
    """The certificate's expiry, key, issuer and names; the legacy protocols it still accepts."""
    s, v, asset = Sightings(), res.values, res.target
    if "tls_certificate_expiry_timestamp_seconds" not in v:
        return s  # no certificate was read: nothing about it was evaluated
    s.look(asset, "tls_certificate_expiry", "tls_weak_key", "tls_self_signed", "tls_name_mismatch")
    left = v["tls_certificate_expiry_timestamp_seconds"] - now
    subject = res.labels.get("subject", "")
    if severity := _expiry_severity(left, thresholds):
        state = f"expired {-left / DAY:.1f} days ago" if left <= 0 else f"expires in {left / DAY:.1f} days"
        s.see("tls_certificate_expiry", asset, f"{subject}: {state}", severity=severity)
    key_type, bits = res.labels.get("key_type", ""), int(v.get("tls_key_bits", 0))
    minimum = thresholds.min_ec_bits if key_type == "ec" else thresholds.min_rsa_bits
    if key_type in ("rsa", "dsa", "ec") and 0 < bits < minimum:
        s.see("tls_weak_key", asset, f"{key_type.upper()} {bits} bits (minimum {minimum})")
    if v.get("tls_self_signed") == 1.0:
        s.see("tls_self_signed", asset, f"issuer = subject = {subject}")
    if v.get("tls_name_match") == 0.0:
        s.see("tls_name_mismatch", asset, f"{subject} does not cover the configured name")
    legacy = (("tls_accepts_tls10", "TLS 1.0"), ("tls_accepts_tls11", "TLS 1.1"))
    if any(key in v for key, _ in legacy):
        s.look(asset, "tls_legacy_protocol")
        if accepted := [name for key, name in legacy if v.get(key) == 1.0]:
            s.see("tls_legacy_protocol", asset, "accepts " + ", ".join(accepted))
    return s
