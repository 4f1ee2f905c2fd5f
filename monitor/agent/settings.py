"""The agent's file: its identity (the zone), where its centre is, its credential, its outbox's
bounds. What it checks is not here: the centre says (monitor.agent.checks)."""

from __future__ import annotations

from pydantic import Field, ValidationError, field_validator

from kernel.errors import ConfigError
from kernel.model import Strict
from kernel.paths import beside
from kernel.units import Duration, Interval, parse_size
from kernel.yamlsource import load, pydantic_problems


class AgentFile(Strict):
    zone: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")
    centre: list[str] = Field(min_length=1, max_length=8, description="the centre's URL(s): an HA group's each")
    token_file: str = Field(description="the token `vigia agent add ZONE` printed, alone in a file (mode 0600)")
    ca_file: str | None = Field(default=None, description="the CA that signed the centre's certificate")
    client_cert: str | None = None
    client_key: str | None = None
    state_dir: str = "/var/lib/vigia-agent"
    spool_max_age: Duration = 7 * 86400.0
    spool_max_size: str = "200MB"
    push_every: Interval = 10.0
    refresh_checks: Interval = 60.0
    timeout: Duration = 15.0  # one exchange with the centre

    @field_validator("centre")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return [u.rstrip("/") for u in urls]

    @field_validator("spool_max_size")
    @classmethod
    def _size(cls, value: str) -> str:
        parse_size(value, "B")
        return value

    @property
    def spool_bytes(self) -> int:
        return int(parse_size(self.spool_max_size, "B"))


def parse(file: str) -> AgentFile:
    """The agent's file, every problem with its line; paths relative to the file's folder."""
    doc = load(file)
    if doc.problems and doc.data is None:
        raise ConfigError(doc.problems)
    try:
        raw = AgentFile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError([*doc.problems, *pydantic_problems(doc, exc, ())]) from None
    if doc.problems:
        raise ConfigError(doc.problems)
    paths = {k: beside(file, v) for k in ("token_file", "ca_file", "client_cert", "client_key", "state_dir")
             if isinstance(v := getattr(raw, k), str)}  # fmt: skip
    return raw.model_copy(update=paths)
