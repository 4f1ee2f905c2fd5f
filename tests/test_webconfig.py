"""--web.config.file: exporter-toolkit's format, checked by real TLS clients against the real daemon."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509

from kernel.errors import ConfigError
from monitor.web import webconfig
from tests.conftest import need_binary
from tests.servers import Pki
from tests.vigiaproc import ROOT, VigiaProcess, one_target_config

CONFIG = one_target_config("web-test")

# Cost 4 (bcrypt's lowest) keeps the suite fast; the logic does not depend on the cost.
ALICE = bcrypt.hashpw(b"s3creto", bcrypt.gensalt(rounds=4)).decode()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        webconfig.parse(str(path))
    return [str(p) for p in caught.value.problems]


def request(
    port: int,
    ctx: ssl.SSLContext,
    path: str = "/metrics",
    auth: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        headers = {"Authorization": auth} if auth is not None else {}
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def basic(user: str | bytes, password: str | bytes) -> str:
    raw = (user if isinstance(user, bytes) else user.encode()) + b":"
    raw += password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(raw).decode()


def served_serial(port: int, pki: Pki) -> int:
    ctx = pki.client_context()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


# -- validation: strict keys, located problems -------------------------------------------


def test_unknown_keys_and_bad_values_are_refused_with_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "web.yml",
        "tls_server_config:\n"
        "  cert_file: a.crt\n"
        "  key_file: a.key\n"
        "  min_versoin: TLS12\n"
        "http_server_config:\n"
        "  headers:\n"
        "    X-Frame-Options: allow\n"
        "    Server: nginx\n",
    )
    found = problems_of(path)
    assert any(f"{path}:4:3: tls_server_config.min_versoin: unknown key" in p for p in found), found
    # Headers are validated after the keys: fix the typo to see them.
    path.write_text(path.read_text().replace("min_versoin", "min_version"))
    found = problems_of(path)
    assert any("7:" in p and "X-Frame-Options" in p and "'deny'" in p for p in found), found
    assert any("8:" in p and "'Server' can not be configured" in p for p in found), found
    assert any("cannot load the certificate and key" in p for p in found), found


def test_bad_hash_and_unverifiable_client_auth_are_refused(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    cert, key, _ = pki.leaf("srv", ips=["127.0.0.1"])
    path = write(
        tmp_path / "web.yml",
        f"tls_server_config: {{cert_file: {cert}, key_file: {key}, client_auth_type: RequireAnyClientCert}}\n"
        "basic_auth_users:\n"
        f"  alice: '{ALICE}'\n"
        "  bob: plain-text-password\n",
    )
    found = problems_of(path)
    assert any(":4:" in p and "basic_auth_users.bob: not a bcrypt hash" in p for p in found), found
    assert any("RequireAnyClientCert is not supported" in p for p in found), found
    assert not any("alice" in p for p in found)

    tls = f"{{cert_file: {cert}, key_file: {key}, client_ca_file: {pki.ca_file}}}"
    ca_only = write(tmp_path / "ca.yml", f"tls_server_config: {tls}\n")
    assert any("without a client_auth_type" in p for p in problems_of(ca_only))


def test_a_bad_hash_refuses_to_start(tmp_path: Path) -> None:
    web = write(tmp_path / "web.yml", "basic_auth_users:\n  alice: $2y$10$short\n")
    vigia = VigiaProcess(CONFIG, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(vigia.config), "--web.config.file", str(web)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert f"{web}:2:10: basic_auth_users.alice: not a bcrypt hash" in done.stderr
    # check-config validates the same file the same way
    check = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(vigia.config), "--web.config.file", str(web)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert check.returncode == 1 and "not a bcrypt hash" in check.stderr


def test_hash_password_makes_a_hash_the_daemon_accepts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "hash-password", "--cost", "10"],
        input="s3creto\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert hashed.startswith("$2b$10$") and bcrypt.checkpw(b"s3creto", hashed.encode())
    settings = webconfig.parse(str(write(tmp_path / "web.yml", f"basic_auth_users: {{alice: '{hashed}'}}\n")))
    assert set(settings.users) == {"alice"}


# -- authentication: unknown users cost what known ones cost -------------------------------


def test_unknown_users_are_checked_against_a_decoy_of_the_same_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    costly = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=6)).decode()
    guard = webconfig.WebGuard(str(write(tmp_path / "web.yml", f"basic_auth_users: {{alice: '{costly}'}}\n")))
    settings = guard.current()
    assert settings is not None
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", spy)
    assert not guard.authorized(settings, basic("mallory", "pw"))
    assert checked == [settings.decoy]
    assert settings.decoy.startswith(b"$2b$06$")  # the real users' cost, not a cheap one
    assert guard.authorized(settings, basic("alice", "pw"))
    assert checked[-1] == costly.encode()
    guard.authorized(settings, basic("alice", "pw"))
    assert len(checked) == 2  # a known good pair is cached: bcrypt is slow by design


# -- the real daemon, real TLS clients -----------------------------------------------------


@pytest.fixture
def tls_vigia(tmp_path: Path):  # type: ignore[no-untyped-def]
    pki = Pki(tmp_path)
    cert, key, _ = pki.leaf("vigia", ips=["127.0.0.1"])
    web = write(
        tmp_path / "web.yml",
        "tls_server_config:\n"
        f"  cert_file: {cert.name}\n"  # relative to the web config's directory
        f"  key_file: {key.name}\n"
        "  min_version: TLS12\n"
        "http_server_config:\n"
        "  headers: {X-Content-Type-Options: nosniff, X-Frame-Options: deny}\n"
        "basic_auth_users:\n"
        f"  prometheus: '{ALICE}'\n",
    )
    vigia = VigiaProcess(CONFIG, tmp_path)
    vigia.tls = pki.client_context()
    vigia.auth = ("prometheus", "s3creto")
    vigia.start("--web.config.file", str(web))
    try:
        vigia.wait_ready()
        yield vigia, pki, web, cert, key
    finally:
        vigia.stop()


def test_tls_and_basic_auth_answer_401_never_500(tls_vigia) -> None:  # type: ignore[no-untyped-def]
    vigia, pki, _web, _cert, _key = tls_vigia
    ctx = pki.client_context()
    status, headers, body = request(vigia.port, ctx, auth=basic("prometheus", "s3creto"))
    assert status == 200 and b"vigia_target_up" in body
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "deny"

    refused = {
        "wrong password": basic("prometheus", "wrong"),
        "unknown user": basic("mallory", "s3creto"),
        "missing header": None,
        "over-long password": basic("prometheus", "s3creto" + "x" * 200),
        "empty password": basic("prometheus", ""),
        "not base64": "Basic %%%not-base64%%%",
        "no colon": "Basic " + base64.b64encode(b"prometheus").decode(),
        "not utf-8 user": basic(b"\xff\xfe", "s3creto"),
        "other scheme": "Bearer abc",
    }
    for why, header in refused.items():
        status, headers, _ = request(vigia.port, ctx, auth=header)
        assert status == 401, why
        assert headers.get("WWW-Authenticate", "").startswith("Basic"), why
    for path in ("/-/healthy", "/-/ready", "/"):
        assert request(vigia.port, ctx, path)[0] == 401

    # A second TLS stack (curl's) agrees.
    curl = need_binary("curl", "curl")
    url = f"https://127.0.0.1:{vigia.port}/metrics"
    base = [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(pki.ca_file), url]
    assert subprocess.run([*base, "-u", "prometheus:s3creto"], capture_output=True, text=True).stdout == "200"
    assert subprocess.run([*base, "-u", "prometheus:nope"], capture_output=True, text=True).stdout == "401"
    # Plain HTTP to the TLS port gets no metrics.
    plain = subprocess.run([curl, "-s", f"http://127.0.0.1:{vigia.port}/metrics"], capture_output=True, text=True)
    assert "vigia_target_up" not in plain.stdout


def test_tls_versions_below_the_minimum_are_refused(tls_vigia) -> None:  # type: ignore[no-untyped-def]
    vigia, pki, web, _cert, _key = tls_vigia
    web.write_text(web.read_text().replace("min_version: TLS12", "min_version: TLS13"))
    old = pki.client_context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        request(vigia.port, old, auth=basic("prometheus", "s3creto"))
    assert request(vigia.port, pki.client_context(), auth=basic("prometheus", "s3creto"))[0] == 200


def test_a_renewed_certificate_is_served_without_restart(tls_vigia) -> None:  # type: ignore[no-untyped-def]
    vigia, pki, web, cert, key = tls_vigia
    pid = vigia.proc.pid
    before = served_serial(vigia.port, pki)
    renewed_cert, renewed_key, renewed = pki.leaf("vigia-renewed", ips=["127.0.0.1"])
    key.write_bytes(renewed_key.read_bytes())
    cert.write_bytes(renewed_cert.read_bytes())
    assert served_serial(vigia.port, pki) == renewed.serial_number != before
    assert vigia.proc.pid == pid and vigia.proc.poll() is None

    # A broken change is not applied: the endpoint keeps its TLS and its users, and says so.
    good = web.read_text()
    web.write_text(good.replace("basic_auth_users:", "basic_auth_userz:"))
    assert request(vigia.port, pki.client_context(), auth=basic("prometheus", "nope"))[0] == 401
    assert request(vigia.port, pki.client_context(), auth=basic("prometheus", "s3creto"))[0] == 200
    vigia.wait_for(lambda: vigia.value("vigia_web_config_last_reload_successful") == 0.0, 10, "reload failure metric")
    web.write_text(good)
    vigia.wait_for(lambda: vigia.value("vigia_web_config_last_reload_successful") == 1.0, 10, "reload recovery")
    assert "web config changed and is invalid" in vigia.log.read_text()


def test_client_certificates_and_allowed_sans(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    cert, key, _ = pki.leaf("vigia", ips=["127.0.0.1"])
    allowed = pki.leaf("prometheus-1", dns=["prometheus-1.oai.local"])
    other = pki.leaf("intruder", dns=["intruder.example"])
    web = write(
        tmp_path / "web.yml",
        "tls_server_config:\n"
        f"  cert_file: {cert}\n  key_file: {key}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki.ca_file}\n"
        "  client_allowed_sans: [prometheus-1.oai.local]\n",
    )
    vigia = VigiaProcess(CONFIG, tmp_path)
    vigia.tls = pki.client_context((allowed[0], allowed[1]))
    vigia.start("--web.config.file", str(web))
    try:
        vigia.wait_ready()
        assert request(vigia.port, vigia.tls)[0] == 200
        for ctx in (pki.client_context(), pki.client_context((other[0], other[1]))):
            with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException, OSError)):
                request(vigia.port, ctx)
        time.sleep(0.1)
        assert vigia.proc is not None and vigia.proc.poll() is None
    finally:
        vigia.stop()


def test_rate_limit_answers_429(tmp_path: Path) -> None:
    web = write(tmp_path / "web.yml", "rate_limit: {interval: 1h, burst: 2}\n")
    vigia = VigiaProcess(CONFIG, tmp_path)
    vigia.start("--web.config.file", str(web))
    try:
        # wait_ready spends tokens too; from then on the bucket is empty for an hour.
        vigia.wait_for(lambda: vigia.get("/-/healthy")[0] in (200, 429), 20, "the daemon to answer")
        statuses = [vigia.get("/-/healthy")[0] for _ in range(3)]
        assert statuses[-1] == 429 and statuses.count(200) <= 2
    finally:
        vigia.stop()


def test_a_flood_of_wrong_passwords_delays_no_scrape(tmp_path: Path) -> None:
    """bcrypt at cost 12 (about a quarter of a second a check): 8 clients sending wrong passwords
    for 4 s queue checks for seconds, while each scrape with the known (cached) credentials is
    answered at once: the checks run on a thread of their own, never on the listener's loop."""
    import threading
    import time

    import bcrypt

    slow_hash = bcrypt.hashpw(b"s3creto", bcrypt.gensalt(rounds=12)).decode()
    web = write(tmp_path / "web.yml", f"basic_auth_users:\n  prometheus: '{slow_hash}'\n")
    vigia = VigiaProcess(CONFIG, tmp_path)
    vigia.auth = ("prometheus", "s3creto")
    vigia.start("--web.config.file", str(web))
    stop = threading.Event()
    wrong: list[int] = []

    def flood(k: int) -> None:
        while not stop.is_set():
            try:
                wrong.append(vigia_status(vigia.port, basic("prometheus", f"mal-{k}-{len(wrong)}")))
            except OSError:
                wrong.append(0)

    try:
        vigia.wait_ready(timeout=30)  # its credentials checked once, and cached from then on
        workers = [threading.Thread(target=flood, args=(k,)) for k in range(8)]
        for w in workers:
            w.start()
        took = []
        end = time.monotonic() + 4
        while time.monotonic() < end:
            t0 = time.monotonic()
            assert vigia.get("/metrics")[0] == 200
            took.append(time.monotonic() - t0)
            time.sleep(0.2)
        stop.set()
        for w in workers:
            w.join(timeout=30)
    finally:
        stop.set()
        vigia.stop()
    assert wrong and set(wrong) <= {401, 0}, set(wrong)
    assert max(took) < 0.5, took


def vigia_status(port: int, auth: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": auth})
        return conn.getresponse().status
    finally:
        conn.close()
