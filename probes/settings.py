"""Shared building blocks for probe settings models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from kernel.model import Strict


class Settings(Strict):
    """Base of every probe's settings: strict types, unknown keys refused, frozen."""

    def sockets(self) -> int:
        """Sockets one check with these settings holds at once (the probe engine's in-flight unit)."""
        return 1


def _valid_regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            re.compile(value)
        except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296} overflows, not re.error
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
    return value


Regex = Annotated[str, BeforeValidator(_valid_regex)]


class Secret(Settings):
    """A secret given by file or environment variable, never inline."""

    file: str | None = None
    env: str | None = None

    def model_post_init(self, _context: Any) -> None:
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
