"""The light model base of what a zone agent validates too: the probes' settings and the agent's own
file. msgspec Structs, strict types, unknown keys refused, frozen, as kernel.model's pydantic
models are.

Why two model libraries: the agent runs on a zone's small box with a 40 MB budget, and pydantic
alone costs it about 7 MB resident (its core, its schema machinery and importlib.metadata, which
its plugin loader imports) to validate a handful of checks; msgspec validates the same rules,
written once here, in about 1.5 MB. The centre's own configuration stays on pydantic (kernel.model)
and embeds these settings through ``Spec.__get_pydantic_core_schema__``.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import msgspec

from kernel.units import check_interval, parse_duration, parse_size

T = TypeVar("T")
SpecPath = tuple[str | int, ...]


class Seconds(float):
    """A duration as written in files ("30s", "1m30s"); bare numbers refused (seconds or minutes?)."""


class Every(Seconds):
    """How often something is done: a duration between 1s and 1d (kernel.units.check_interval)."""


class Bytes(str):
    """A size in bytes as written in files ("200MB"), checked when read (kernel.units.parse_size)."""


class WebUrl(str):
    """An http(s) URL, written without its trailing slash."""


class Pattern(str):
    """A regular expression, compiled once when read so a bad one is refused with its reason."""


def valid_regex(value: Any) -> Any:
    """``value``, or ValueError naming what is wrong with it as a regular expression."""
    if isinstance(value, str):
        try:
            re.compile(value)
        except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296} overflows, not re.error
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
    return value


class FieldError(ValueError):
    """Raised by a Spec's ``__post_init__`` to refuse one field's value (located at that field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a document read as a Spec: where (keys and indexes) and why."""

    path: SpecPath
    message: str
    key: bool = False  # the problem is the key itself (unknown or missing), not its value

    def __str__(self) -> str:
        return f"{dotted(self.path)}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """Every field's problem with a document read as a Spec (a file's author fixes them in one go);
    cross-field rules are judged once each field holds."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems


def dotted(path: SpecPath) -> str:
    """A path as a person reads it: targets[3].http.url."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


class Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Strict types, unknown keys refused, frozen: a typo in a file is an error, never a default.
    Built from files and peers with ``convert``; the constructor trusts its caller (code and tests)."""

    form: ClassVar[str] = "a mapping"  # how the value is written, for the one told it is not

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        # A Spec inside the centre's pydantic models (a Secret in a section): validated by msgspec,
        # its problem reported at the field pydantic locates, with the inner path in the message.
        from pydantic_core import core_schema

        def validate(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            try:
                return convert(cls, value)
            except SpecError as e:
                raise ValueError(str(e)) from None

        return core_schema.no_info_plain_validator_function(validate)


def _decode(kind: type, value: Any) -> Any:
    if issubclass(kind, Seconds):
        seconds = parse_duration(value)
        return kind(check_interval(seconds) if issubclass(kind, Every) else seconds)
    if issubclass(kind, Pattern):
        if not isinstance(value, str):
            raise ValueError(f"a regular expression must be text, not {value!r}")
        return kind(valid_regex(value))
    if not isinstance(value, str):
        raise ValueError(f"expected text, not {value!r}")
    if issubclass(kind, Bytes):
        parse_size(value, "B")
        return kind(value)
    if issubclass(kind, WebUrl):
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return kind(value.rstrip("/"))
    raise NotImplementedError


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_UNKNOWN = re.compile(r"^Object contains unknown field `(.+)`$")
_MISSING = re.compile(r"^Object missing required field `(.+)`$")


def _path(text: str) -> SpecPath:
    out: list[str | int] = []
    for name, index in _PART.findall(text):
        if name:
            out.append(name)
        elif index != "...":  # a mapping's value: msgspec does not say which key
            out.append(int(index))
    return tuple(out)


def _at(data: Any, path: SpecPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _located(exc: msgspec.ValidationError, prefix: SpecPath, data: Any) -> SpecProblem:
    m = _AT.match(str(exc))
    assert m is not None  # the pattern matches any text
    path, message = _path(m.group("path") or ""), m.group("message")
    cause = exc.__cause__
    if isinstance(cause, FieldError):
        return SpecProblem((*prefix, *path, cause.field), str(cause))
    if found := _UNKNOWN.match(message):
        return SpecProblem((*prefix, *path, found.group(1)), "unknown key", key=True)
    if found := _MISSING.match(message):
        return SpecProblem((*prefix, *path, found.group(1)), "missing required key", key=True)
    return SpecProblem((*prefix, *path), _worded(message, _at(data, path)))


_GOT = re.compile(r"^(?P<want>Expected .*?), got `(?P<got>\w+)`$")


def _worded(message: str, value: Any) -> str:
    """msgspec's message with the value found, for the one who reads the file."""
    message = message.replace("`object`", "a mapping").replace("`array`", "a list")
    shown = f"{value!r:.40}" if isinstance(value, str | int | float | bool) else ""
    if found := _GOT.match(message):
        return f"{found.group('want')}, got {found.group('got')} {shown}".rstrip()
    if message.startswith("Expected") and shown:
        return f"{message} (got {shown})"
    return message


def _struct(kind: Any) -> type[msgspec.Struct] | None:
    """The Struct a field holds (``X`` or ``X | None``), if it holds one."""
    for each in (kind, *typing.get_args(kind)):
        if isinstance(each, type) and issubclass(each, msgspec.Struct):
            return each
    return None


def _each_field(cls: type[msgspec.Struct], data: dict[Any, Any], prefix: SpecPath) -> list[SpecProblem]:
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    out = [SpecProblem((*prefix, k), "unknown key", key=True) for k in data if k not in fields]
    for name, field in fields.items():
        if name not in data:
            if field.required:
                out.append(SpecProblem((*prefix, name), "missing required key", key=True))
            continue
        value, inner = data[name], _struct(field.type)
        if inner is not None and isinstance(value, dict):
            out += _problems(inner, value, (*prefix, name))
            continue
        if inner is not None and issubclass(inner, Spec) and value is not None:
            out.append(SpecProblem((*prefix, name), f"expected {inner.form}, got {type(value).__name__} {value!r:.40}"))
            continue
        try:
            msgspec.convert(value, field.type, strict=True, dec_hook=_decode)
        except msgspec.ValidationError as exc:
            found = _located(exc, (*prefix, name), value)
            if typing.get_origin(field.type) is typing.Literal:  # msgspec does not list the choices
                found = SpecProblem(
                    found.path, f"{found.message} (one of: {', '.join(map(str, typing.get_args(field.type)))})"
                )
            out.append(found)
    return out


def _problems(cls: type[msgspec.Struct], data: dict[Any, Any], prefix: SpecPath) -> list[SpecProblem]:
    try:
        msgspec.convert(data, cls, strict=True, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        return _each_field(cls, data, prefix) or [_located(exc, prefix, data)]
    return []


def convert(cls: type[T], data: Any) -> T:
    """``data`` (from YAML or JSON) as ``cls``, or SpecError naming every problem, where and why."""
    try:
        return msgspec.convert(data, cls, strict=True, dec_hook=_decode)
    except msgspec.ValidationError as exc:
        each = _each_field(cls, data, ()) if isinstance(data, dict) and issubclass(cls, msgspec.Struct) else []
        raise SpecError(each or [_located(exc, (), data)]) from None


def required(cls: type[msgspec.Struct]) -> list[str]:
    """The fields a document must give for ``cls``."""
    return [f.name for f in msgspec.structs.fields(cls) if f.required]


def replace(value: T, **changes: Any) -> T:
    """A copy of the Spec ``value`` with ``changes``."""
    return msgspec.structs.replace(value, **changes)  # type: ignore[type-var]


def normalise(value: msgspec.Struct, field: str, new: Any) -> None:
    """Set ``field`` of a frozen Spec from its ``__post_init__`` (a value written in its one form)."""
    msgspec.structs.force_setattr(value, field, new)
