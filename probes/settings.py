"""Shared building blocks for probe settings models: msgspec Specs (kernel.spec), so that a zone
agent validates the checks its centre sends with the very models the centre validated them with,
without carrying pydantic."""

from __future__ import annotations

from typing import Annotated, ClassVar

from msgspec import Meta

from kernel.spec import Pattern, Spec

__all__ = ["Name", "Pattern", "Port", "Secret", "Settings"]

# The fields most settings share: a non-empty name or address, a TCP/UDP port.
Name = Annotated[str, Meta(min_length=1)]
Port = Annotated[int, Meta(ge=1, le=65535)]


class Settings(Spec, frozen=True):
    """Base of every probe's settings: strict types, unknown keys refused, frozen."""

    def sockets(self) -> int:
        """Sockets one check with these settings holds at once (the probe engine's in-flight unit)."""
        return 1


class Secret(Settings, frozen=True):
    """A secret given by file or environment variable, never inline."""

    form: ClassVar[str] = "a secret given as {file: PATH} or {env: NAME}, never inline"

    file: str | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")

    def read(self) -> str:
        """The secret's value; raises OSError/KeyError for the caller to report."""
        import os

        if self.file is not None:
            with open(self.file, encoding="utf-8") as fh:
                return fh.read().strip()
        assert self.env is not None
        return os.environ[self.env]
