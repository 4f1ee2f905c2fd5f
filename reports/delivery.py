"""A closed month's reports by e-mail: each configured recipient gets the month's PDFs and open
data once, through the configured SMTP server (STARTTLS, a password read from a file), with the
month's manifest in the body so the attachments can be checked against it.

Once: each recipient's row in the ledger (store.deliveries) is claimed before the message is
handed over. A failure before the server holds the message (refused connection, a timeout, a 4xx
answer) is retried, backing off; a 5xx answer fails it for good; a failure while the server holds
the message (the DATA exchange broken) leaves it ``uncertain``, never sent again by itself.
"""

from __future__ import annotations

import email.policy
import hashlib
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from config.delivery import DeliverySettings
from kernel.month import Month
from store.deliveries import FAILED, PENDING, SENT, UNCERTAIN, Deliveries

BACKOFF_FIRST, BACKOFF_MAX = 60.0, 3600.0
KINDS = {"pdf": (".pdf",), "html": (".html",), "csv": (".csv", ".metadata.json")}


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1 min, doubling, at most 1 h."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Outcome:
    state: str  # SENT, PENDING (retry), FAILED, UNCERTAIN
    error: str = ""


def compose(folder: Path, month: Month, recipient: str, settings: DeliverySettings, message_id: str) -> EmailMessage:
    """The month's message to ``recipient``: the attachments its settings ask for, from the month's
    folder, and the manifest's lines for them in the body."""
    manifest = (folder / "MANIFEST.sha256").read_text(encoding="utf-8")
    wanted = tuple(ext for kind in settings.attach for ext in KINDS[kind])
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(wanted))
    msg = EmailMessage()
    msg["Subject"] = f"Informes de Zonas Digitales y del centro de datos, {month}"
    msg["From"], msg["To"] = settings.sender, recipient
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), message_id
    lines = [line for line in manifest.splitlines() if line.split("  ", 1)[-1] in {p.name for p in files}]
    msg.set_content(
        f"Informes del mes {month}, cerrado y congelado por vigia.\n\n"
        "Sumas SHA-256 de los adjuntos (del MANIFEST.sha256 del mes):\n\n" + "\n".join(lines) + "\n"
    )
    for p in files:
        maintype, subtype = _mime(p.name)
        msg.add_attachment(p.read_bytes(), maintype=maintype, subtype=subtype, filename=p.name)
    return msg


def _mime(name: str) -> tuple[str, str]:
    if name.endswith(".pdf"):
        return "application", "pdf"
    if name.endswith(".json"):
        return "application", "json"
    return "text", "html" if name.endswith(".html") else "csv"


def message_id(scope: str, month: Month, recipient: str, sender: str) -> str:
    """The same for every try to one recipient: a client that receives a message twice shows one."""
    tag = hashlib.sha256(f"{scope}/{month}/{recipient}".encode()).hexdigest()[:20]
    return f"<vigia.{month}.{tag}@{sender.rsplit('@', 1)[1]}>"


def send(settings: DeliverySettings, msg: EmailMessage, recipient: str) -> Outcome:
    """Hand ``msg`` to the server for ``recipient``, each exchange under the configured timeout."""
    s = settings.smtp
    held = False  # whether the server may hold the message (the DATA exchange begun)
    try:
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=s.ca_file))
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password.read() if s.password is not None else "")
            smtp.mail(settings.sender)
            code, answer = smtp.rcpt(recipient)
            if code >= 400:
                return _refused(code, answer)
            held = True
            # CRLF line ends as SMTP wants them: smtplib converts a str's line ends, never bytes'.
            code, answer = smtp.data(msg.as_bytes(policy=email.policy.SMTP))
            if code >= 400:
                return _refused(code, answer)
        return Outcome(SENT)
    except smtplib.SMTPResponseException as exc:
        return _refused(exc.smtp_code, exc.smtp_error)
    except (OSError, smtplib.SMTPException, KeyError) as exc:  # refused, reset, timed out, no password file
        why = f"{type(exc).__name__}: {exc}"[:500]
        return Outcome(UNCERTAIN if held else PENDING, why)


def _refused(code: int, answer: bytes | str) -> Outcome:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    return Outcome(PENDING if code < 500 else FAILED, f"{code} {text}"[:500])


def deliver(
    ledger: Deliveries, settings: DeliverySettings, folder: Path, month: Month, me: str,
    now: Callable[[], float] = time.time, sender: Callable[..., Outcome] = send,
) -> list[tuple[str, str]]:  # fmt: skip
    """Every recipient due of ``month`` tried once (the ledger says who is due); (recipient, state)
    of those tried."""
    if not (folder / "MANIFEST.sha256").exists():
        return []  # the month is not closed (yet)
    ledger.ensure(str(month), list(settings.to), now())
    out = []
    for recipient in settings.to:
        claimed = ledger.claim(str(month), recipient, me, now())
        if claimed is None:
            continue
        msg = compose(folder, month, recipient, settings, message_id(ledger.scope, month, recipient, settings.sender))
        outcome = sender(settings, msg, recipient)
        state = FAILED if outcome.state == PENDING and claimed.attempts >= settings.attempts else outcome.state
        ledger.settle(claimed.id, me, state, error=outcome.error, next_at=now() + backoff(claimed.attempts),
                      sent_at=now() if state == SENT else None, message_id=str(msg["Message-ID"]))  # fmt: skip
        out.append((recipient, state))
    return out


def who() -> str:
    """This process, as a claim names it."""
    import os

    return f"{socket.gethostname()}/{os.getpid()}"
