"""The closed month's reports by e-mail, against a real SMTP server started here (aiosmtpd, with
STARTTLS from the tests' CA and a password): what arrives and its checksums against the month's
manifest, once per recipient across runs, restarts and two instances at once; a server that
refuses for now, refuses for good, stalls, and comes back."""

from __future__ import annotations

import email
import email.policy
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.delivery import DeliverySettings
from kernel.month import Month
from reports.close import publish
from reports.delivery import deliver
from store.db import Store
from store.deliveries import PENDING, SENDING, SENT, UNCERTAIN, Deliveries
from tests.conftest import free_port
from tests.servers import Pki

aiosmtpd = pytest.importorskip("aiosmtpd", reason="needs aiosmtpd (the test extras: deploy/bootstrap.sh --tests)")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

MONTH = Month(2026, 11)
TO = ["jefe@cartagena.gov.co", "archivo@cartagena.gov.co"]


class Mailbox:
    """What the server received; ``answer`` for RCPT: None (accept) or an SMTP reply to refuse with."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []  # recipient, the message, whether over TLS
        self.answer: str | None = None
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.answer is not None:
            return self.answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, envelope.content, session.ssl is not None))
        return "250 Message accepted"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"vigia", b"clave-smtp")
    return AuthResult(success=ok)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Pki]]:
    pki = Pki(tmp_path)
    cert, key, _ = pki.leaf("smtp", ips=["127.0.0.1"])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    box = Mailbox()
    port = free_port()
    server = Controller(box, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                        authenticator=authenticator, auth_require_tls=True)  # fmt: skip
    server.start()
    try:
        yield box, port, pki
    finally:
        server.stop()


def settings(port: int, pki: Pki, tmp: Path, timeout: float = 5.0) -> DeliverySettings:
    (tmp / "smtp.pass").write_text("clave-smtp\n")
    return DeliverySettings.model_validate({
        "to": TO, "sender": "vigia@cartagena.gov.co", "attach": ["pdf", "csv"],
        "smtp": {"host": "127.0.0.1", "port": port, "username": "vigia", "password": {"file": str(tmp / "smtp.pass")},
                 "ca_file": str(pki.ca_file), "timeout": f"{timeout:g}s"},
    }, strict=False)  # fmt: skip


@pytest.fixture
def month(tmp_path: Path) -> Path:
    folder = tmp_path / "reports" / str(MONTH)
    publish(folder, {
        f"zonas-digitales-{MONTH}.es.pdf": b"%PDF-1.7 informe " + bytes(range(256)) * 40,
        f"zonas-digitales-{MONTH}.csv": b"ANIO,MES_NUM\n2026,11\n",
        f"zonas-digitales-{MONTH}.metadata.json": b'{"titulo": "Zonas"}\n',
        f"zonas-digitales-{MONTH}.es.html": b"<html>no adjunto</html>",
    })  # fmt: skip
    return folder


def ledger(url: str, scope: str = "centro") -> tuple[Store, Deliveries]:
    store = Store(url, "centro")
    store.migrate()
    return store, Deliveries(store.engine, scope)


def test_each_recipient_gets_the_month_once_with_the_manifests_checksums(
    smtp: tuple[Mailbox, int, Pki], month: Path, tmp_path: Path, url: str
) -> None:
    box, port, pki = smtp
    conf = settings(port, pki, tmp_path)
    store, book = ledger(url)
    assert deliver(book, conf, month, MONTH, "a/1") == [(TO[0], SENT), (TO[1], SENT)]
    assert sorted(r for r, _, _ in box.messages) == sorted(TO) and all(tls for _, _, tls in box.messages)
    manifest = dict(reversed(line.split("  ", 1)) for line in (month / "MANIFEST.sha256").read_text().splitlines())
    msg = email.message_from_bytes(box.messages[0][1], policy=email.policy.default)
    attached = {p.get_filename(): p.get_payload(decode=True) for p in msg.walk() if p.get_filename()}
    assert sorted(attached) == sorted(n for n in manifest if not n.endswith(".html"))  # the html was not asked for
    for name, body in attached.items():
        assert hashlib.sha256(body).hexdigest() == manifest[name], name
        assert manifest[name] in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Run again, and again after a restart (a new ledger on the same store): nobody gets it twice.
    assert deliver(book, conf, month, MONTH, "a/1") == []
    store.close()
    store, again = ledger(url)
    assert deliver(again, conf, month, MONTH, "a/2") == [] and len(box.messages) == 2
    assert {d.state for d in again.listed(str(MONTH))} == {SENT}
    store.close()


def test_a_refusing_then_returning_server_is_retried_backing_off_and_a_5xx_fails_for_good(
    smtp: tuple[Mailbox, int, Pki], month: Path, tmp_path: Path, url: str
) -> None:
    box, port, pki = smtp
    conf = settings(port, pki, tmp_path).model_copy(update={"to": TO[:1]})
    store, book = ledger(url)
    clock = [1_000_000.0]
    box.answer = "451 4.3.0 try again later"
    assert deliver(book, conf, month, MONTH, "a/1", now=lambda: clock[0]) == [(TO[0], PENDING)]
    [row] = book.listed(str(MONTH))
    assert row.attempts == 1 and row.next_at == clock[0] + 60 and "451" in row.last_error
    box.answer = None
    assert deliver(book, conf, month, MONTH, "a/1", now=lambda: clock[0] + 30) == []  # not due yet
    clock[0] += 61
    assert deliver(book, conf, month, MONTH, "a/1", now=lambda: clock[0]) == [(TO[0], SENT)]
    assert len(box.messages) == 1
    # Another month, refused for good: failed, never tried again.
    other = Month(2026, 10)
    publish(month.parent / str(other), {f"zonas-digitales-{other}.csv": b"x\n"})
    box.answer = "550 5.1.1 no such mailbox"
    assert deliver(book, conf, month.parent / str(other), other, "a/1") == [(TO[0], "failed")]
    clock[0] += 10 * 3600
    assert deliver(book, conf, month.parent / str(other), other, "a/1", now=lambda: clock[0]) == []
    store.close()


def test_a_stalled_server_costs_a_try_and_the_month_arrives_once_it_answers(
    smtp: tuple[Mailbox, int, Pki], month: Path, tmp_path: Path, url: str
) -> None:
    box, port, pki = smtp
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections and never says a word
    try:
        stalled = settings(silent.getsockname()[1], pki, tmp_path, timeout=1.0).model_copy(update={"to": TO[:1]})
        store, book = ledger(url)
        began = time.monotonic()
        assert deliver(book, stalled, month, MONTH, "a/1", now=lambda: 0.0) == [(TO[0], PENDING)]
        assert time.monotonic() - began < 5  # its own deadline, not the server's patience
        assert "timed out" in book.listed()[0].last_error
    finally:
        silent.close()
    back = settings(port, pki, tmp_path).model_copy(update={"to": TO[:1]})
    assert deliver(book, back, month, MONTH, "a/1", now=lambda: 120.0) == [(TO[0], SENT)]
    assert len(box.messages) == 1
    store.close()


def test_instances_at_once_send_each_message_once(
    smtp: tuple[Mailbox, int, Pki], month: Path, tmp_path: Path, url: str
) -> None:
    box, port, pki = smtp
    conf = settings(port, pki, tmp_path)
    stores = [ledger(url) for _ in range(4)]
    results: list[list[tuple[str, str]]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def run(i: int) -> None:
        start.wait(5)
        results[i] = deliver(stores[i][1], conf, month, MONTH, f"instance-{i}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r for r, _, _ in box.messages) == sorted(TO)  # each once
    assert sorted(r for res in results for r, _ in res) == sorted(TO)
    for store, _ in stores:
        store.close()


def test_a_claim_left_by_a_stopped_process_is_uncertain_and_never_resent(
    smtp: tuple[Mailbox, int, Pki], month: Path, tmp_path: Path, url: str
) -> None:
    box, port, pki = smtp
    conf = settings(port, pki, tmp_path).model_copy(update={"to": TO[:1]})
    store, book = ledger(url)
    book.ensure(str(MONTH), TO[:1], 0.0)
    assert book.claim(str(MONTH), TO[0], "killed/1", 0.0) is not None  # then the process died
    assert book.listed()[0].state == SENDING
    assert deliver(book, conf, month, MONTH, "a/1", now=lambda: 100.0) == []  # its claim still fresh
    assert deliver(book, conf, month, MONTH, "a/1", now=lambda: 10_000.0) == []
    [row] = book.listed()
    assert row.state == UNCERTAIN and "killed/1 stopped while sending" in row.last_error
    assert deliver(book, conf, month, MONTH, "a/1", now=lambda: 100_000.0) == [] and box.messages == []
    store.close()


def test_the_daemons_job_delivers_the_month_just_closed_and_counts_it(
    smtp: tuple[Mailbox, int, Pki], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The daemon's report-delivery job: the previous month's folder, once its manifest is written,
    to every recipient; counted in its metrics; nothing before the manifest, nothing twice."""
    from datetime import UTC, datetime

    from tests.vigiaproc import daemon_in_process

    box, port, pki = smtp
    (tmp_path / "smtp.pass").write_text("clave-smtp\n")
    text = (
        "instance: centro\ntimezone: America/Bogota\n"
        "targets:\n  - {id: web, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        "reports:\n  delivery:\n"
        f"    to: [{TO[0]}]\n    sender: vigia@cartagena.gov.co\n"
        f"    smtp: {{host: 127.0.0.1, port: {port}, username: vigia, password: {{file: {tmp_path / 'smtp.pass'}}}, "
        f"ca_file: {pki.ca_file}, timeout: 5s}}\n"
    )  # fmt: skip
    with daemon_in_process(text, tmp_path) as daemon:
        previous = Month.of(datetime.now(UTC), daemon.config.timezone).previous()
        folder = tmp_path / "state" / "reports" / str(previous)
        daemon.delivery.run()  # not closed yet: nothing to send
        assert box.messages == []
        base = f"zonas-digitales-{previous}"
        publish(folder, {f"{base}.es.pdf": b"%PDF-1.7 x", f"{base}.csv": b"a\n"})  # the close's files and manifest
        daemon.delivery.run()
        daemon.delivery.run()
        assert [r for r, _, _ in box.messages] == [TO[0]]
        assert (daemon.stats.report_deliveries_sent, daemon.stats.report_delivery_failures) == (1, 0)
    # What an operator reads of it, without SQL.
    from monitor.cli import main

    assert (
        main(["report", "deliveries", "--config", str(tmp_path / "c.yml"), "--state-dir", str(tmp_path / "state")]) == 0
    )
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{previous}\t{TO[0]}\tsent\t1\t")
