"""Report figures as typed values and their frozen JSON: one conversion for every report.

A month's figures are dataclasses (what the templates and the code read, checked by mypy); the
month snapshot stores them as JSON once, and a re-rendered month reads that JSON back into the
same dataclasses. Pydantic (already the configuration's validator) does the conversion both ways,
so a snapshot that no longer fits its shape is refused with the field that does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from kernel.errors import StoreError

T = TypeVar("T")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    # Building an adapter walks the whole shape: once per figures class.
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def to_json(figures: object) -> dict[str, Any]:
    """The figures as the JSON the month snapshot keeps."""
    body = _adapter(type(figures)).dump_python(figures, mode="json")
    assert isinstance(body, dict)
    return body


def from_json(cls: type[T], body: Mapping[str, Any]) -> T:
    """A frozen month's figures, read back into their shape; one that does not fit is the store's
    problem (a hand-edited or damaged snapshot), named by its first field, never a traceback."""
    try:
        figures: T = _adapter(cls).validate_python(dict(body))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StoreError(f"a frozen {cls.__name__} does not fit its shape at {where}: {first['msg']}") from None
    return figures
