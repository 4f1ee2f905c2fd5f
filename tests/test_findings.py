"""Security findings end to end: real lab servers with bad certificates, missing headers, a port
outside the allowed list, a version banner and mail domains with and without SPF/DMARC, probed by
the daemon's own cycle; findings stored, exported, resolved when the server is fixed, and stable
across a restart."""

from __future__ import annotations

import shutil
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from domain import findings as fd
from monitor.daemon import Daemon
from probes.result import ProbeResult
from store import schema
from tests.conftest import need
from tests.servers import Pki, http_server, tcp_server, tls_server
from tests.vigiaproc import daemon_in_process


def _greet(conn: socket.socket) -> None:
    try:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        conn.recv(1)
    except OSError:
        pass


def _listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def _wait_written(daemon: Daemon, writes: int) -> None:
    for _ in range(200):  # bounded: 10 s
        if daemon.stats.store_writes >= writes and daemon.stats.store_pending == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the store writer did not catch up")


def _stored(daemon: Daemon) -> dict[tuple[str, str, str], sa.Row]:
    t = schema.findings_t
    with daemon.store.engine.connect() as conn:
        return {(r.kind, r.asset, r.detail): r for r in conn.execute(sa.select(t))}


def _open_metric(daemon: Daemon) -> dict[str, float]:
    daemon.exposition.refresh()
    out = {}
    for fam in text_string_to_metric_families(daemon.exposition.body().decode()):
        if fam.name == "vigia_security_findings_open":
            out = {s.labels["severity"]: s.value for s in fam.samples}
    return out


@pytest.fixture
def lab(tmp_path: Path, dnsmasq: tuple[str, int]) -> Iterator[dict[str, object]]:
    pki = Pki(tmp_path)
    certs = {
        "vencido": pki.leaf("vencido.cdc.test", dns=["vencido.cdc.test"], days=10, start_days_ago=20),
        "pronto": pki.leaf("pronto.cdc.test", dns=["pronto.cdc.test"], days=11.5, start_days_ago=1),
        "autofirmado": pki.leaf("autofirmado.cdc.test", dns=["autofirmado.cdc.test"], self_signed=True),
        "otro-nombre": pki.leaf("otro.cdc.test", dns=["otro.cdc.test"]),
        "clave-debil": pki.leaf("clave-debil.cdc.test", dns=["clave-debil.cdc.test"], rsa_bits=1024),
        "bueno": pki.leaf("bueno.cdc.test", dns=["bueno.cdc.test"], days=365),
        "legado": pki.leaf("legado.cdc.test", dns=["legado.cdc.test"], days=365),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_versions = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2)
    headers = {"X-Content-Type-Options": "nosniff", "Server": "Apache/2.4.57 (Debian)"}
    with ExitStack() as stack:
        ports = {
            name: stack.enter_context(
                tls_server(c, k, weak=(name == "clave-debil"), versions=old_versions if name == "legado" else None)
            )
            for name, (c, k, _) in certs.items()
        }
        web = stack.enter_context(http_server({"/": lambda _h: (200, dict(headers), b"portal")}))
        ssh, _ = stack.enter_context(tcp_server(_greet))
        allowed, extra = _listener(), _listener()
        stack.callback(allowed.close)
        closed = _listener()
        closed_port = closed.getsockname()[1]
        closed.close()
        yield {
            "pki": pki,
            "certs": certs,
            "tls": ports,
            "web": web,
            "headers": headers,
            "ssh": ssh,
            "allowed": allowed.getsockname()[1],
            "extra": extra,
            "closed": closed_port,
            "dns": dnsmasq,
        }
        extra.close()


def _config(lab: dict[str, object]) -> str:
    ca = lab["pki"].ca_file  # type: ignore[attr-defined]
    tls_ports: dict[str, int] = lab["tls"]  # type: ignore[assignment]
    names = {"otro-nombre": "portal.cdc.test"}
    lines = ["defaults: {interval: 60s, timeout: 5s}", "targets:"]
    for name, port in tls_ports.items():
        server = names.get(name, f"{name}.cdc.test")
        legacy = ", check_legacy: true" if name in ("legado", "bueno") else ""
        lines.append(
            f"  - {{id: tls-{name}, probe: tls, tls: {{host: 127.0.0.1, port: {port}, server_name: {server},"
            f" ca_file: '{ca}'{legacy}}}}}"
        )
    web = lab["web"]
    dns_host, dns_port = lab["dns"]  # type: ignore[misc]
    extra = lab["extra"].getsockname()[1]  # type: ignore[attr-defined]
    lines += [
        f"  - {{id: portal, probe: http, http: {{url: '{web.url()}', check_security_headers: true}}}}",  # type: ignore[attr-defined]
        f"  - {{id: ssh-cdc, probe: tcp, tcp: {{host: 127.0.0.1, port: {lab['ssh']}, check_banner: true}}}}",
        f"  - {{id: puertos-cdc, probe: ports, ports: {{host: 127.0.0.1, ports: [{lab['allowed']}, {extra},"
        f" {lab['closed']}], allowed: [{lab['allowed']}]}}}}",
    ]
    for domain in ("seguro.correo.test", "debil.correo.test", "solo-texto.correo.test"):
        lines.append(
            f"  - {{id: 'mail-{domain}', probe: mail,"
            f" mail: {{server: {dns_host}, port: {dns_port}, domain: {domain}}}}}"
        )
    return "\n".join(lines) + "\n"


def test_findings_from_the_lab_are_stored_exported_resolved_and_stable(lab: dict[str, object], tmp_path: Path) -> None:
    config = _config(lab)
    extra_port = lab["extra"].getsockname()[1]  # type: ignore[attr-defined]
    expected = {
        ("tls_certificate_expiry", "tls-vencido", "", "alta"),
        ("tls_certificate_expiry", "tls-pronto", "", "media"),  # ~10.5 days left: within 15, not 7
        ("tls_self_signed", "tls-autofirmado", "", "media"),
        ("tls_name_mismatch", "tls-otro-nombre", "", "media"),
        ("tls_weak_key", "tls-clave-debil", "", "alta"),
        ("tls_legacy_protocol", "tls-legado", "", "alta"),
        ("http_header_missing", "portal", "strict-transport-security", "baja"),
        ("http_header_missing", "portal", "content-security-policy", "baja"),
        ("http_header_missing", "portal", "x-frame-options", "baja"),
        ("http_header_missing", "portal", "referrer-policy", "baja"),
        ("banner_version", "portal", "", "baja"),
        ("banner_version", "ssh-cdc", "", "baja"),
        ("port_not_allowed", "puertos-cdc", str(extra_port), "alta"),
        ("spf_permissive", "debil.correo.test", "", "media"),
        ("dmarc_policy_none", "debil.correo.test", "", "baja"),
        ("spf_missing", "solo-texto.correo.test", "", "media"),
        ("dmarc_missing", "solo-texto.correo.test", "", "media"),
    }
    with daemon_in_process(config, tmp_path) as daemon:
        daemon.run_cycle(60.0)
        _wait_written(daemon, 1)
        legacy = daemon.live.current_states()["tls-legado"].last
        need(
            legacy is not None and legacy.values.get("tls_accepts_tls10") is not None,
            "this machine's OpenSSL cannot even attempt a TLS 1.0 handshake",
        )
        assert daemon.live.current_states()["tls-bueno"].last.values["tls_accepts_tls10"] == 0.0  # type: ignore[union-attr]
        found = [f for f in daemon.live.current_findings() if f.status == fd.OPEN]
        assert {(f.kind, f.asset, f.detail, f.severity) for f in found} == expected
        by_key = {(f.kind, f.asset, f.detail): f for f in found}
        for f in found:
            assert f.id == fd.finding_id(f.kind, f.asset, f.detail)
            assert f.control == fd.CATALOGUE[f.kind].control and f.mspi == fd.CATALOGUE[f.kind].mspi
        assert "expired 10.0 days ago" in by_key[("tls_certificate_expiry", "tls-vencido", "")].evidence
        assert "RSA 1024 bits" in by_key[("tls_weak_key", "tls-clave-debil", "")].evidence
        assert by_key[("banner_version", "ssh-cdc", "")].evidence.startswith("SSH-2.0-OpenSSH_9.2p1")
        assert by_key[("banner_version", "portal", "")].evidence == "Apache/2.4.57 (Debian)"
        stored = _stored(daemon)
        assert {(k, a, d, r.severity) for (k, a, d), r in stored.items() if r.status == "abierta"} == expected
        assert _open_metric(daemon) == {"alta": 4.0, "media": 6.0, "baja": 7.0}
        assert "accepts TLS 1.0, TLS 1.1" in by_key[("tls_legacy_protocol", "tls-legado", "")].evidence
        first_seen = {f.id: f.first_seen for f in found}

        # The office fixes things: renews two certificates, adds the headers, closes the extra port.
        pki: Pki = lab["pki"]  # type: ignore[assignment]
        certs = lab["certs"]
        for name in ("vencido", "pronto"):
            cert, key, _ = certs[name]  # type: ignore[index]
            new_cert, new_key, _ = pki.leaf(f"{name}-renovado.cdc.test", dns=[f"{name}.cdc.test"], days=365)
            shutil.copy(new_cert, cert)
            shutil.copy(new_key, key)
        lab["headers"].update(  # type: ignore[attr-defined]
            {
                "Strict-Transport-Security": "max-age=31536000",
                "Content-Security-Policy": "default-src 'self'",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "no-referrer",
                "Server": "Apache",
            }
        )
        lab["extra"].close()  # type: ignore[attr-defined]
        daemon.run_cycle(60.0)
        _wait_written(daemon, 2)
        still = {(f.kind, f.asset, f.detail, f.severity) for f in daemon.live.current_findings() if f.status == fd.OPEN}
        fixed = {e for e in expected if e[1] in ("tls-vencido", "tls-pronto", "portal", "puertos-cdc")}
        assert still == expected - fixed
        stored = _stored(daemon)
        for kind, asset, detail, _sev in fixed:
            row = stored[(kind, asset, detail)]
            assert row.status == "resuelta" and row.resolved_at >= row.first_seen
        assert _open_metric(daemon) == {"alta": 2.0, "media": 5.0, "baja": 2.0}

    # A restart (a new daemon on the same store) knows every finding by the same id and first sighting.
    with daemon_in_process(config, tmp_path) as daemon:
        known = {f.id: f for f in daemon.live.current_findings()}
        assert {i: f.first_seen for i, f in known.items() if i in first_seen} == first_seen
        assert sum(f.status == fd.OPEN for f in known.values()) == len(expected - fixed)
        daemon.run_cycle(60.0)
        _wait_written(daemon, 1)
        again = {f.id: f for f in daemon.live.current_findings()}
        assert {i: f.first_seen for i, f in again.items() if f.status == fd.OPEN} == {
            i: first_seen[i] for i, f in again.items() if f.status == fd.OPEN
        }


def test_silent_targets_drills_and_removed_assets(tmp_path: Path) -> None:
    """The sweep: a target with no result for 3 intervals, a failed drill, an overdue service; and a
    finding whose asset left the configuration is resolved, not left open for ever."""
    config = "targets:\n  - {id: db1, probe: host, interval: 60s}\n  - {id: db2, probe: host, interval: 60s}\n"
    with daemon_in_process(config, tmp_path) as daemon:
        now = time.time()
        audit = daemon.runtime.audit
        states = daemon.live.current_states()
        # Just started, nothing probed yet: not a fault.
        assert audit.sweep(now + 60, daemon.config.targets, states, now) == []
        changed = audit.sweep(
            now + 200, daemon.config.targets, states, now, {"d-ok": "passed", "d-bad": "failed"}, {"erp": True}
        )
        got = {(f.kind, f.asset, f.status) for f in changed}
        assert got == {
            ("target_no_data", "db1", "abierta"),
            ("target_no_data", "db2", "abierta"),
            ("drill_failed", "d-bad", "abierta"),
            ("drill_overdue", "erp", "abierta"),
        }
        assert "no result for 200 s" in next(f.evidence for f in changed if f.asset == "db1")
        # A result arrives for db1 (this cycle's own evaluation resolves its no-data finding) ...
        daemon.run_cycle(60.0)
        open_now = {(f.kind, f.asset) for f in audit.current() if f.status == fd.OPEN}
        assert ("target_no_data", "db1") not in open_now and ("target_no_data", "db2") not in open_now
        # ... a probe that could not measure (vigia's own trouble) is no data too.
        bad = ProbeResult(
            "db2", "host", daemon.live.current_states()["db2"].last.started_at, 0.0, False, "permission", "x"
        )  # type: ignore[union-attr]
        audit.after_cycle([bad], {t.id: t for t in daemon.config.targets}, now + 300)
        assert ("target_no_data", "db2") in {(f.kind, f.asset) for f in audit.current() if f.status == fd.OPEN}
        # The drill passes again; the service and the failed drill are then dropped from the plan.
        audit.sweep(
            now + 400, daemon.config.targets, daemon.live.current_states(), now, {"d-bad": "passed"}, {"erp": False}
        )
        audit.sweep(now + 500, [t for t in daemon.config.targets if t.id == "db1"], daemon.live.current_states(), now)
        final = {(f.kind, f.asset): f.status for f in audit.current()}
        assert final[("drill_failed", "d-bad")] == "resuelta"
        assert final[("drill_overdue", "erp")] == "resuelta"
        assert final[("target_no_data", "db2")] == "resuelta"  # db2 left the configuration


def test_expiry_thresholds_and_overrides(tmp_path: Path) -> None:
    """Severity follows 30/15/7 days by default and the office's own thresholds and mapping when set."""
    day = fd.DAY
    now = 1_800_000_000.0

    def severity(days_left: float, policy: fd.Policy) -> str | None:
        p = fd.Pass()
        res = ProbeResult(
            "web", "tls", __import__("datetime").datetime.now(), 0.0, True,
            values={"tls_certificate_expiry_timestamp_seconds": now + days_left * day, "tls_name_match": 1.0,
                    "tls_key_bits": 256.0, "tls_self_signed": 0.0},
            labels={"subject": "web", "key_type": "ec"},
        )  # fmt: skip
        fd.from_result(p, policy, res, None, now)
        return next((o.severity for o in p.observed), None)

    default = fd.Policy()
    assert [severity(d, default) for d in (45, 30, 20, 15, 10, 7, 1, -3)] == [
        None, "baja", "baja", "media", "media", "alta", "alta", "alta",
    ]  # fmt: skip
    from config import parse

    path = tmp_path / "c.yml"
    path.write_text(
        "targets: [{id: web, probe: host}]\n"
        "security:\n  expiry_days: [60, 20, 10]\n"
        "  findings:\n    tls_certificate_expiry: {control: A.5.9, mspi: Gestión de activos,"
        " strategy: {es: Renovar con la CA distrital.}}\n"
    )
    sec = parse(str(path)).security
    policy = sec.policy()
    assert [severity(d, policy) for d in (45, 15, 8)] == ["baja", "media", "alta"]
    ft = policy.type("tls_certificate_expiry")
    assert (ft.control, ft.mspi, ft.strategy["es"]) == ("A.5.9", "Gestión de activos", "Renovar con la CA distrital.")
    assert ft.strategy["en"] == fd.CATALOGUE["tls_certificate_expiry"].strategy["en"]


def test_vigia_too_busy_is_a_gap_only_once_it_lasts(tmp_path: Path) -> None:
    """A check vigia could not start in time or whose deadline it noticed late (``overrun``, ``late``)
    opens no finding at once: an overloaded prober would open and resolve one per target per cycle
    in the month's security report. Once no result has measured the target for ``no_data_after``
    intervals the sweep opens one, saying why; a measurement resolves it."""
    config = "targets:\n  - {id: db1, probe: host, interval: 60s}\n"
    with daemon_in_process(config, tmp_path) as daemon:
        daemon.run_cycle(60.0)
        audit, targets = daemon.runtime.audit, {t.id: t for t in daemon.config.targets}
        state = daemon.live.current_states()["db1"]
        measured = state.last
        assert measured is not None and measured.success and state.measured_at == measured.started_at
        t0 = measured.started_at.timestamp()

        def busy(reason: str, after: float) -> ProbeResult:
            at = measured.started_at.fromtimestamp(t0 + after, measured.started_at.tzinfo)
            res = ProbeResult("db1", "host", at, 0.1, False, reason, f"{reason}: vigia was busy")
            assert state.observe(res) is None  # no data: no state change
            return res

        def open_now() -> set[str]:
            return {f.evidence for f in audit.current() if f.status == fd.OPEN and f.kind == "target_no_data"}

        for k, reason in enumerate(("late", "overrun", "late")):  # within 3 intervals (180 s) of the measurement
            audit.after_cycle([busy(reason, 50.0 * (k + 1))], targets, t0 + 50.0 * (k + 1))
            audit.sweep(t0 + 50.0 * (k + 1) + 1, daemon.config.targets, {"db1": state}, t0 - 10)
            assert open_now() == set(), f"opened after {k + 1} busy results"
        assert state.measured_at == measured.started_at  # busy results measure nothing
        audit.sweep(t0 + 200, daemon.config.targets, {"db1": state}, t0 - 10)
        [evidence] = open_now()
        assert evidence.startswith("no measurement for 200 s (3 intervals): late: ")
        audit.after_cycle([measured], targets, t0 + 240)
        assert open_now() == set()
        # vigia's other trouble is still a finding at once: a missing privilege stays until someone acts
        audit.after_cycle([busy("permission", 300.0)], targets, t0 + 300)
        assert any(e.startswith("permission: ") for e in open_now())
