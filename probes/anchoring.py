"""Secrets' files found beside the file that names them: the one path rule (kernel.paths) applied
through whole configurations (pydantic sections, probe settings, dataclasses, lists). The centre's
and the continuity plan's loaders use it; a zone agent never does (it loads no pydantic here)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar, cast

import msgspec
from pydantic import BaseModel

from kernel.paths import beside
from kernel.spec import replace
from probes.settings import Secret

T = TypeVar("T")


def _moved(fields: dict[str, Any], file: str) -> dict[str, Any]:
    moved = {k: anchored(v, file) for k, v in fields.items()}
    return {k: v for k, v in moved.items() if v is not fields[k]}


def anchored(value: T, file: str) -> T:
    """``value`` (settings, or dataclasses, tuples and lists holding them) with every secret's
    relative ``file`` made relative to ``file``'s folder."""
    if isinstance(value, Secret):
        if value.file is None or os.path.isabs(value.file):
            return value
        return replace(value, file=beside(file, value.file))
    if isinstance(value, msgspec.Struct):
        changed = _moved({k: getattr(value, k) for k in value.__struct_fields__}, file)
        return replace(value, **changed) if changed else value
    if isinstance(value, BaseModel):
        changed = _moved(dict(value.__dict__), file)
        return cast(T, value.model_copy(update=changed)) if changed else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changed = _moved({f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}, file)
        return cast(T, dataclasses.replace(value, **changed)) if changed else value
    if isinstance(value, tuple | list):
        items = [anchored(v, file) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return cast(T, type(value)(*items) if hasattr(value, "_fields") else type(value)(items))
    return value
