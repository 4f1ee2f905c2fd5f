"""The reports' delivery by e-mail (reports.delivery): the recipients and the SMTP server."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from kernel.model import Duration, Strict
from probes.settings import Secret

_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an e-mail address such as jefe@cartagena.gov.co")
    return value


Address = Annotated[str, AfterValidator(_address)]


class SmtpSettings(Strict):
    """The SMTP server that relays the reports: STARTTLS unless turned off (a relay on this host)."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: Secret | None = Field(default=None, description="{file: /etc/vigia/smtp.pass} or {env: NAME}")
    ca_file: str | None = Field(default=None, description="the server's CA, when not the system's")
    timeout: Duration = 30.0


class DeliverySettings(Strict):
    """Who receives the closed month's reports by e-mail, and through which server."""

    to: list[Address] = Field(min_length=1, max_length=50)
    sender: Address
    smtp: SmtpSettings
    attach: list[Literal["pdf", "html", "csv"]] = Field(default_factory=lambda: ["pdf", "csv"])  # type: ignore[arg-type]
    attempts: int = Field(default=8, ge=1, le=50, description="tries per recipient, backing off from 1 min to 1 h")
