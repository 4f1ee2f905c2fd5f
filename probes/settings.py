"""Shared building blocks for probe settings models."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Annotated, Any, TypeVar, cast

from pydantic import BaseModel, BeforeValidator

from kernel.model import Strict
from kernel.paths import beside

T = TypeVar("T")


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


def anchored(value: T, file: str) -> T:
    """``value`` (settings, or dataclasses, tuples and lists holding them) with every secret's
    relative ``file`` made relative to ``file``'s folder: the one path rule (kernel.paths)."""
    if isinstance(value, Secret):
        if value.file is None or os.path.isabs(value.file):
            return value
        return cast(T, value.model_copy(update={"file": beside(file, value.file)}))
    if isinstance(value, BaseModel):
        changed = {k: anchored(v, file) for k, v in value.__dict__.items()}
        changed = {k: v for k, v in changed.items() if v is not value.__dict__[k]}
        return cast(T, value.model_copy(update=changed)) if changed else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        moved = {k: anchored(v, file) for k, v in fields.items()}
        moved = {k: v for k, v in moved.items() if v is not fields[k]}
        return cast(T, dataclasses.replace(value, **moved)) if moved else value
    if isinstance(value, tuple | list):
        items = [anchored(v, file) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return cast(T, type(value)(*items) if hasattr(value, "_fields") else type(value)(items))
    return value
