"""The ``tls_server_config`` section of a web config file, as exporter-toolkit reads it, made into
an ssl server context: Go's names of versions and cipher suites, client certificates verified or
refused, inline PEM loaded without touching the disk."""

from __future__ import annotations

import os
import ssl
from typing import Literal

from pydantic import Field

from kernel.errors import ConfigProblem
from kernel.model import Strict
from kernel.paths import beside
from kernel.yamlsource import Document, Path

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

# Go's names (crypto/tls CipherSuites()) -> OpenSSL's. TLS 1.3 suites are not configurable in
# Go either, so they are accepted and leave the TLS 1.3 set as it is.
CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
}

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")


Version = Literal["TLS10", "TLS11", "TLS12", "TLS13"]


class TLSServerConfig(Strict):
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: str = ""
    client_ca_file: str = ""
    client_allowed_sans: list[str] | None = None
    min_version: Version = "TLS12"
    max_version: Version = "TLS13"
    cipher_suites: list[str] = Field(default_factory=list)
    curve_preferences: list[str] = Field(default_factory=list)
    prefer_server_cipher_suites: bool = True

    def enabled(self) -> bool:
        return any((self.cert, self.key, self.client_ca, self.cert_file, self.key_file, self.client_auth_type))


def _pem_path(text: str) -> str:
    """Inline PEM as a path ssl can load, without writing the secret to disk (a memfd)."""
    fd = os.memfd_create("vigia-web-pem", os.MFD_CLOEXEC)
    os.write(fd, text.encode())
    return f"/proc/self/fd/{fd}"


def _close_pem(path: str) -> None:
    if path.startswith("/proc/self/fd/"):
        os.close(int(path.rsplit("/", 1)[1]))


def _problems(doc: Document, t: TLSServerConfig) -> list[ConfigProblem]:
    """What in the section cannot work, before anything is loaded."""
    at: Path = ("tls_server_config",)
    problems: list[ConfigProblem] = []
    if t.client_auth_type in UNVERIFIED_CLIENT_AUTH:
        problems.append(
            doc.problem(
                (*at, "client_auth_type"),
                f"{t.client_auth_type} is not supported: vigia only accepts client certificates it verifies; "
                "use RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file",
            )
        )
    elif t.client_auth_type not in ("", *CLIENT_AUTH):
        problems.append(doc.problem((*at, "client_auth_type"), f"invalid client_auth_type {t.client_auth_type!r}"))
    if t.curve_preferences:
        problems.append(
            doc.problem((*at, "curve_preferences"), "not supported: Python's ssl cannot set key exchange groups")
        )
    unknown = [c for c in t.cipher_suites if c not in CIPHERS]
    if unknown:
        problems.append(doc.problem((*at, "cipher_suites"), f"unknown cipher suite(s): {', '.join(unknown)}"))
    if t.cert and t.cert_file:
        problems.append(doc.problem((*at, "cert"), "give cert or cert_file, not both"))
    if t.key and t.key_file:
        problems.append(doc.problem((*at, "key"), "give key or key_file, not both"))
    if not (t.cert or t.cert_file):
        problems.append(doc.problem(at, "missing one of cert or cert_file", key=True))
    if not (t.key or t.key_file):
        problems.append(doc.problem(at, "missing one of key or key_file", key=True))
    has_ca = bool(t.client_ca or t.client_ca_file)
    mode = CLIENT_AUTH.get(t.client_auth_type or "NoClientCert")
    if has_ca and mode == ssl.CERT_NONE:
        problems.append(doc.problem(at, "client CA's have been configured without a client_auth_type"))
    if mode in (ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED) and not has_ca:
        problems.append(doc.problem((*at, "client_auth_type"), "needs client_ca_file (or client_ca) to verify against"))
    if t.client_allowed_sans is not None and mode != ssl.CERT_REQUIRED:
        problems.append(
            doc.problem((*at, "client_allowed_sans"), "requires client_auth_type RequireAndVerifyClientCert")
        )
    if TLS_VERSIONS[t.min_version] > TLS_VERSIONS[t.max_version]:
        problems.append(doc.problem((*at, "min_version"), "min_version is above max_version"))
    return problems


def _beside(file: str, name: str) -> str:
    return beside(file, name) or name


def context(doc: Document, t: TLSServerConfig) -> tuple[ssl.SSLContext | None, list[str], list[ConfigProblem]]:
    """The server context of a ``tls_server_config`` section (paths relative to the file's folder: kernel.paths), the
    files it read (watched for changes), and every problem found (then no context)."""
    at: Path = ("tls_server_config",)
    problems = _problems(doc, t)
    files: list[str] = []
    if problems:
        return None, files, problems
    mode = CLIENT_AUTH.get(t.client_auth_type or "NoClientCert")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[t.min_version]
    ctx.maximum_version = TLS_VERSIONS[t.max_version]
    if t.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = [CIPHERS[c] for c in t.cipher_suites if CIPHERS[c]]
    if tls12:
        ctx.set_ciphers(":".join(tls12))
    cert = _beside(doc.file, t.cert_file) if t.cert_file else _pem_path(t.cert)
    key = _beside(doc.file, t.key_file) if t.key_file else _pem_path(t.key)
    files += [p for p in (cert, key) if not p.startswith("/proc/")]
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        which = "cert_file" if t.cert_file else "cert"
        problems.append(doc.problem((*at, which), f"cannot load the certificate and key ({cert}, {key}): {exc}"))
    finally:
        _close_pem(cert)
        _close_pem(key)
    if mode is not None and mode != ssl.CERT_NONE:
        ctx.verify_mode = mode
        try:
            if t.client_ca_file:
                ca = _beside(doc.file, t.client_ca_file)
                files.append(ca)
                ctx.load_verify_locations(cafile=ca)
            else:
                ctx.load_verify_locations(cadata=t.client_ca)
        except (OSError, ssl.SSLError) as exc:
            problems.append(doc.problem((*at, "client_ca_file"), f"cannot load the client CA: {exc}"))
    return (None if problems else ctx), files, problems
