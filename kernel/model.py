"""The strict model base every configuration section builds on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Strict types, unknown keys refused, frozen: a typo in a file is an error, never a default."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
