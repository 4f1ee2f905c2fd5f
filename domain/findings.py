"""Security findings: what the audit probes, the drills and the daemon itself observed, as findings
with a stable id, a severity, an ISO/IEC 27001:2022 Annex A control and an MSPI domain.

A finding's identity is (kind, asset, detail): the same weakness on the same asset keeps its id
across restarts, instances and severity changes (a certificate 20 days from expiry that reaches 5
is the same finding, now graver). Each evaluation pass also says what it *evaluated*: only open
findings of an evaluated (asset, kind) that were not observed again are resolved, so a probe that
timed out resolves nothing.

The catalogue below is the default; the configuration's ``security.findings`` overrides severity,
control, MSPI domain, title and strategy text per kind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from domain.drills import UNSUCCESSFUL
from probes import REGISTRY
from probes.result import ProbeResult

SEVERITIES = ("alta", "media", "baja")
OPEN, RESOLVED = "abierta", "resuelta"
DAY = 86400.0


@dataclass(frozen=True)
class FindingType:
    kind: str
    severity: str
    control: str  # ISO/IEC 27001:2022 Annex A
    mspi: str  # MSPI domain (MinTIC's Modelo de Seguridad y Privacidad de la Información)
    title: Mapping[str, str]  # lang -> text
    strategy: Mapping[str, str]  # lang -> what to do about it


def _t(
    kind: str, severity: str, control: str, mspi: str, es: str, en: str, strategy_es: str, strategy_en: str
) -> FindingType:
    return FindingType(kind, severity, control, mspi, {"es": es, "en": en}, {"es": strategy_es, "en": strategy_en})


_CRYPTO = "Criptografía"
_COMMS = "Seguridad de las comunicaciones"
_OPS = "Seguridad de las operaciones"
_CONT = "Continuidad de la seguridad de la información"

CATALOGUE: dict[str, FindingType] = {
    t.kind: t
    for t in (
        _t(
            "tls_certificate_expiry", "media", "A.8.24", _CRYPTO,
            "Certificado TLS vencido o próximo a vencer", "TLS certificate expired or expiring soon",
            "Renovar el certificado antes del vencimiento y automatizar la renovación (p. ej. ACME); "
            "llevar un inventario de certificados con responsable y fecha.",
            "Renew the certificate before it expires and automate renewal (e.g. ACME); keep a certificate "
            "inventory with an owner and a date.",
        ),
        _t(
            "tls_legacy_protocol", "alta", "A.8.24", _CRYPTO,
            "Servidor acepta TLS 1.0 o TLS 1.1", "Server accepts TLS 1.0 or TLS 1.1",
            "Deshabilitar TLS 1.0 y 1.1 en el servidor y dejar TLS 1.2 como versión mínima.",
            "Disable TLS 1.0 and 1.1 on the server and make TLS 1.2 the minimum version.",
        ),
        _t(
            "tls_weak_key", "alta", "A.8.24", _CRYPTO,
            "Clave del certificado débil", "Weak certificate key",
            "Emitir un certificado nuevo con clave RSA de al menos 2048 bits o ECDSA P-256 o superior.",
            "Issue a new certificate with an RSA key of at least 2048 bits or ECDSA P-256 or stronger.",
        ),
        _t(
            "tls_self_signed", "media", "A.8.24", _CRYPTO,
            "Certificado autofirmado", "Self-signed certificate",
            "Reemplazar por un certificado emitido por una autoridad de certificación de confianza "
            "(pública o la CA interna de la entidad).",
            "Replace it with a certificate issued by a trusted certificate authority (public or the "
            "entity's internal CA).",
        ),
        _t(
            "tls_name_mismatch", "media", "A.8.24", _CRYPTO,
            "El certificado no corresponde al nombre del servicio", "Certificate does not match the service name",
            "Emitir el certificado con el nombre (SAN) con el que los usuarios acceden al servicio.",
            "Issue the certificate for the name (SAN) users reach the service by.",
        ),
        _t(
            "port_not_allowed", "alta", "A.8.20", _COMMS,
            "Puerto abierto fuera de la lista permitida", "Open port outside the allowed list",
            "Cerrar el servicio o filtrarlo en el cortafuegos; si es necesario, documentarlo y añadirlo a la "
            "lista de puertos permitidos del activo.",
            "Close the service or filter it at the firewall; if it is needed, document it and add it to the "
            "asset's allowed ports.",
        ),
        _t(
            "http_header_missing", "baja", "A.8.26", _OPS,
            "Cabecera de seguridad HTTP ausente", "HTTP security header missing",
            "Configurar en el servidor web o proxy las cabeceras HSTS, CSP, X-Content-Type-Options, "
            "X-Frame-Options y Referrer-Policy.",
            "Set the HSTS, CSP, X-Content-Type-Options, X-Frame-Options and Referrer-Policy headers in the web "
            "server or proxy.",
        ),
        _t(
            "banner_version", "baja", "A.8.9", _OPS,
            "El servidor revela su versión", "Server reveals its version",
            "Ocultar la versión en los banners del servicio (p. ej. ServerTokens Prod, server_tokens off).",
            "Hide the version in the service's banners (e.g. ServerTokens Prod, server_tokens off).",
        ),
        _t(
            "spf_missing", "media", "A.5.14", _COMMS,
            "Dominio de correo sin registro SPF válido", "Mail domain without a valid SPF record",
            "Publicar un único registro SPF que enumere los servidores autorizados y termine en -all.",
            "Publish one SPF record that lists the authorised servers and ends in -all.",
        ),
        _t(
            "spf_permissive", "media", "A.5.14", _COMMS,
            "Registro SPF permisivo", "Permissive SPF record",
            "Cambiar el mecanismo final del SPF a -all (o ~all durante la transición).",
            "Change the SPF record's final mechanism to -all (or ~all during the transition).",
        ),
        _t(
            "dmarc_missing", "media", "A.5.14", _COMMS,
            "Dominio de correo sin registro DMARC", "Mail domain without a DMARC record",
            "Publicar _dmarc con p=quarantine o p=reject y una dirección rua para recibir informes.",
            "Publish _dmarc with p=quarantine or p=reject and a rua address to receive reports.",
        ),
        _t(
            "dmarc_policy_none", "baja", "A.5.14", _COMMS,
            "Política DMARC solo de monitoreo (p=none)", "DMARC policy only monitors (p=none)",
            "Tras revisar los informes DMARC, pasar la política a quarantine y luego a reject.",
            "After reviewing the DMARC reports, move the policy to quarantine and then to reject.",
        ),
        _t(
            "drill_failed", "alta", "A.5.30", _CONT,
            "Simulacro de continuidad fallido", "Continuity drill failed",
            "Analizar la causa del fallo, corregir el procedimiento de recuperación y repetir el simulacro.",
            "Analyse why it failed, correct the recovery procedure and run the drill again.",
        ),
        _t(
            "drill_overdue", "media", "A.5.30", _CONT,
            "Servicio sin simulacro exitoso en su periodo de prueba",
            "Service without a passed drill in its test period",
            "Programar y ejecutar el simulacro pendiente del servicio.",
            "Schedule and run the service's pending drill.",
        ),
        _t(
            "target_no_data", "media", "A.8.16", _OPS,
            "Activo sin datos de monitoreo", "Asset without monitoring data",
            "Restablecer el monitoreo del activo (permisos, conectividad del monitor, configuración de la sonda).",
            "Restore the asset's monitoring (permissions, the monitor's connectivity, probe configuration).",
        ),
    )
}  # fmt: skip


def finding_id(kind: str, asset: str, detail: str) -> str:
    """Stable across restarts and instances: a hash of what the finding is about."""
    return hashlib.sha256(f"{kind}\0{asset}\0{detail}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Observation:
    kind: str
    asset: str
    detail: str
    severity: str
    evidence: str

    @property
    def id(self) -> str:
        return finding_id(self.kind, self.asset, self.detail)


@dataclass
class Finding:
    id: str
    kind: str
    asset: str
    detail: str
    severity: str
    control: str
    mspi: str
    evidence: str
    first_seen: float
    last_seen: float
    status: str = OPEN
    resolved_at: float | None = None
    reopened: int = 0


@dataclass(frozen=True)
class Policy:
    """The catalogue with the configuration's overrides, and the thresholds the checks use."""

    types: Mapping[str, FindingType] = field(default_factory=lambda: dict(CATALOGUE))
    expiry_days: tuple[float, float, float] = (30.0, 15.0, 7.0)  # baja, media, alta
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256

    def type(self, kind: str) -> FindingType:
        return self.types[kind]


@dataclass
class Pass:
    """One evaluation: what was observed, and which (asset, kind) pairs were looked at."""

    observed: list[Observation] = field(default_factory=list)
    evaluated: set[tuple[str, str]] = field(default_factory=set)

    def look(self, asset: str, *kinds: str) -> None:
        self.evaluated.update((asset, k) for k in kinds)

    def add(
        self, policy: Policy, kind: str, asset: str, evidence: str, *, detail: str = "", severity: str = ""
    ) -> None:
        self.observed.append(Observation(kind, asset, detail, severity or policy.type(kind).severity, evidence))
        self.evaluated.add((asset, kind))


# --- from probe results ------------------------------------------------------


def from_result(p: Pass, policy: Policy, res: ProbeResult, settings: object, now: float) -> None:
    """Fold one probe result's security facts into the pass (only kinds the result evaluated).

    What a measurement means is its kind's rule (``findings`` beside the probe); severity, ids and
    the catalogue stay here."""
    kind = REGISTRY.get(res.probe)
    if kind is None or kind.findings is None:
        return
    sightings = kind.findings(res, settings, policy, now)
    p.evaluated.update(sightings.looked)
    for s in sightings.seen:
        p.add(policy, s.kind, s.asset, s.evidence, detail=s.detail, severity=s.severity)


def no_data(p: Pass, policy: Policy, asset: str, missing: str | None) -> None:
    """``missing``: why vigia has no data about the asset, or None when it has."""
    p.look(asset, "target_no_data")
    if missing:
        p.add(policy, "target_no_data", asset, missing)


# --- the open set ---------------------------------------------------------


def apply(current: dict[str, Finding], p: Pass, policy: Policy, now: float) -> list[Finding]:
    """Update ``current`` (every finding known, by id) with a pass; returns the findings that changed."""
    changed: dict[str, Finding] = {}
    seen = set()
    for o in p.observed:
        seen.add(o.id)
        ft = policy.type(o.kind)
        f = current.get(o.id)
        if f is None:
            f = Finding(o.id, o.kind, o.asset, o.detail, o.severity, ft.control, ft.mspi, o.evidence, now, now)
            current[o.id] = changed[o.id] = f
            continue
        updated = replace(
            f,
            severity=o.severity,
            control=ft.control,
            mspi=ft.mspi,
            evidence=o.evidence,
            last_seen=now,
            status=OPEN,
            resolved_at=None,
            reopened=f.reopened + (f.status == RESOLVED),
        )
        current[o.id] = changed[o.id] = updated
    for fid, f in list(current.items()):
        if f.status == OPEN and fid not in seen and (f.asset, f.kind) in p.evaluated:
            current[fid] = changed[fid] = replace(f, status=RESOLVED, resolved_at=now)
    return list(changed.values())


def open_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    out = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        if f.status == OPEN:
            out[f.severity] = out.get(f.severity, 0) + 1
    return out


def drills(p: Pass, policy: Policy, last_verdicts: Mapping[str, str], overdue: Mapping[str, bool]) -> None:
    """``last_verdicts``: drill id -> verdict of its last run ("" if never run); ``overdue``: service -> flag."""
    for drill, verdict in sorted(last_verdicts.items()):
        p.look(drill, "drill_failed")
        if verdict in UNSUCCESSFUL:
            p.add(policy, "drill_failed", drill, f"last run: {verdict}")
    for service, late in sorted(overdue.items()):
        p.look(service, "drill_overdue")
        if late:
            p.add(policy, "drill_overdue", service, "no passed drill within the service's test interval")
