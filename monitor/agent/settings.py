"""The agent's file: its identity (the zone), where its centre is, its credential, its outbox's
bounds. What it checks is not here: the centre says (monitor.agent.checks). A Spec (kernel.spec),
like the probes' settings: the agent carries no pydantic."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from kernel.errors import ConfigError
from kernel.paths import beside
from kernel.spec import Bytes, Every, Seconds, Spec, SpecError, WebUrl, convert, replace
from kernel.units import parse_size
from kernel.yamlsource import load, spec_problems


class AgentFile(Spec, frozen=True):
    zone: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")]
    # the centre's URL(s): an HA group's each
    centre: Annotated[list[WebUrl], Meta(min_length=1, max_length=8)]
    # the token `vigia agent add ZONE` printed, alone in a file (mode 0600)
    token_file: str
    ca_file: str | None = None  # the CA that signed the centre's certificate
    client_cert: str | None = None
    client_key: str | None = None
    state_dir: str = "/var/lib/vigia-agent"
    spool_max_age: Seconds = Seconds(7 * 86400.0)
    spool_max_size: Bytes = Bytes("200MB")
    push_every: Every = Every(10.0)
    refresh_checks: Every = Every(60.0)
    timeout: Seconds = Seconds(15.0)  # one exchange with the centre

    @property
    def spool_bytes(self) -> int:
        return int(parse_size(self.spool_max_size, "B"))


def parse(file: str) -> AgentFile:
    """The agent's file, every problem with its line; paths relative to the file's folder."""
    doc = load(file)
    if doc.problems and doc.data is None:
        raise ConfigError(doc.problems)
    try:
        raw = convert(AgentFile, doc.data)
    except SpecError as exc:
        raise ConfigError([*doc.problems, *spec_problems(doc, exc, ())]) from None
    if doc.problems:
        raise ConfigError(doc.problems)
    paths = {k: beside(file, v) for k in ("token_file", "ca_file", "client_cert", "client_key", "state_dir")
             if isinstance(v := getattr(raw, k), str)}  # fmt: skip
    return replace(raw, **paths)
