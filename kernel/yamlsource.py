"""YAML loading that remembers where every key and value stands.

PyYAML's safe loader silently keeps the last of two duplicate keys and forgets
line numbers once objects are built. Here the node tree is converted by hand:
duplicate keys become problems, and every path (("targets", 3, "http", "url"))
maps to its line and column so that validation errors can name them.

It lives in the bottom package because both the daemon's configuration and
the continuity plan are read with it.

Reading is total: any byte sequence gives data or located problems, never a
traceback, in bounded time and memory. The file's size, its nesting depth and
the nodes that aliases may expand to are capped (a few hundred bytes of nested
aliases would otherwise expand to gigabytes); invalid UTF-8, a NUL byte, a
UTF-16 file, a recursive alias and an impossible date are problems with a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from kernel.errors import ConfigProblem
from kernel.files import NotReadable, read_limited
from kernel.spec import SpecError, dotted

if TYPE_CHECKING:  # only its errors are read here: a zone agent reads its file without pydantic
    from pydantic import ValidationError

# Keys that look like secrets get a hint when refused: secrets come from files or the environment.
SECRET_WORDS = ("password", "secret", "community", "token", "passphrase")

# Ten thousand targets take about 1 MB (2,000 zones: 320 kB, parsed in 2.4 s): a file four times the
# largest inventory imaginable still parses in seconds, and a runaway one is refused before it is read.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # nesting of mappings and lists; real files use fewer than 10
MAX_NODES = 500_000  # values after alias expansion; ten thousand targets use about 100,000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _TooBig(Exception):
    """The document expands past MAX_NODES or MAX_DEPTH."""


Path = tuple[str | int, ...]


@dataclass
class Document:
    file: str
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def where(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of ``path``, or of its nearest ancestor that exists."""
        table = self.key_positions if key else self.positions
        for cut in range(len(path), -1, -1):
            sub = path[:cut]
            if sub in table:
                return table[sub]
            if key and sub in self.positions:
                return self.positions[sub]
        return None, None

    def problem(self, path: Path, message: str, *, key: bool = False) -> ConfigProblem:
        line, column = self.where(path, key=key)
        return ConfigProblem(self.file, line, column, dotted(path), message)


def _decode(file: str, raw: bytes) -> tuple[str | None, ConfigProblem | None]:
    """The file's text, or the located reason it is not UTF-8 text."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, ConfigProblem(file, 1, 1, "", "the file is UTF-16: save it as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, ConfigProblem(
            file, line, column, "", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} (save the file as UTF-8)"
        )
    nul = text.find("\x00")
    if nul >= 0:
        line, column = text.count("\n", 0, nul) + 1, nul - (text.rfind("\n", 0, nul) + 1) + 1
        return None, ConfigProblem(file, line, column, "", "a NUL byte: not a text file")
    return text, None


def load(file: str, text: str | None = None) -> Document:
    """Parse ``file`` (or ``text`` named ``file``) into a Document; never raises for bad input."""
    doc = Document(file, None)
    if text is None:
        try:
            raw = read_limited(file, MAX_BYTES)
        except OSError as exc:
            doc.problems.append(ConfigProblem(file, None, None, "", f"cannot read: {exc.strerror}"))
            return doc
        except NotReadable as exc:
            doc.problems.append(ConfigProblem(file, None, None, "", str(exc)))
            return doc
        text, problem = _decode(file, raw)
        if problem is not None:
            doc.problems.append(problem)
            return doc
    elif "\x00" in text:
        doc.problems.append(ConfigProblem(file, None, None, "", "a NUL byte: not a text file"))
        return doc
    assert text is not None
    try:
        loader = yaml.SafeLoader(text)  # checks every character first: a control character fails here
    except yaml.reader.ReaderError as exc:
        at = exc.position
        where = (text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1)
        why = f"a control character (U+{exc.character:04X}) YAML does not allow"
        doc.problems.append(ConfigProblem(file, *where, "", why))
        return doc
    try:
        node = loader.get_single_node()
        doc.data = {} if node is None else _Converter(loader, doc).convert(node, (), 0)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        doc.problems.append(ConfigProblem(file, line, column, "", f"invalid YAML: {exc.problem}"))
    except yaml.YAMLError as exc:
        doc.problems.append(ConfigProblem(file, None, None, "", f"invalid YAML: {exc}"))
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        doc.problems.append(ConfigProblem(file, None, None, "", f"nested deeper than {MAX_DEPTH} levels"))
    except _TooBig as exc:
        doc.problems.append(ConfigProblem(file, None, None, "", str(exc)))
    finally:
        loader.dispose()
    return doc


def _at(doc: Document, node: yaml.Node, path: Path, message: str) -> ConfigProblem:
    return ConfigProblem(doc.file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path), message)


class _Converter:
    """Node tree to data, with positions, duplicate keys, YAML merge keys and bounded expansion."""

    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.nodes = 0
        self.open: set[int] = set()  # nodes being converted: an alias back to one is a cycle

    def convert(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"expands to more than {MAX_NODES:,} values (aliases nested in aliases?)")
        if depth > MAX_DEPTH:
            raise _TooBig(f"nested deeper than {MAX_DEPTH} levels")
        self.doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in self.open:
            self.doc.problems.append(_at(self.doc, node, path, "an alias refers to a node that contains it"))
            return None
        if isinstance(node, yaml.MappingNode):
            self.open.add(id(node))
            try:
                return self._mapping(node, path, depth)
            finally:
                self.open.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            self.open.add(id(node))
            try:
                return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(id(node))
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. a date like 2025-13-45
            self.doc.problems.append(_at(self.doc, node, path, f"invalid value {node.value!r}: {exc}"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        own = {id(k) for k, _ in node.value if k.tag != _MERGE_TAG}
        if any(k.tag == _MERGE_TAG for k, _ in node.value):
            self._check_merge_sources(node)
            self.loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults): merged pairs come first
        out: dict[Any, Any] = {}
        merged: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.doc.problems.append(_at(self.doc, key_node, path, "keys must be text"))
                continue
            try:
                key = self.loader.construct_object(key_node, deep=True)
            except (ValueError, OverflowError) as exc:
                self.doc.problems.append(_at(self.doc, key_node, path, f"invalid key {key_node.value!r}: {exc}"))
                continue
            if not isinstance(key, str | int) or isinstance(key, bool):
                self.doc.problems.append(_at(self.doc, key_node, path, f"keys must be text, not {key!r}"))
                continue
            key = str(key)
            child = (*path, key)
            explicit = id(key_node) in own
            if key in out and key not in merged:
                first = self.doc.key_positions[child]
                self.doc.problems.append(
                    _at(self.doc, key_node, child, f"duplicate key (first defined at line {first[0]})")
                )
                continue
            # A key written in the mapping overrides one it merged in, as YAML defines merge keys.
            merged.discard(key)
            if not explicit:
                merged.add(key)
            self.doc.key_positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.convert(value_node, child, depth + 1)
        return out

    def _check_merge_sources(self, node: yaml.MappingNode) -> None:
        # flatten_mapping follows merged mappings recursively: refuse a merge that reaches its own mapping.
        seen: set[int] = set()
        todo = [v for k, v in node.value if k.tag == _MERGE_TAG]
        while todo:
            n = todo.pop()
            if n is node:
                raise yaml.constructor.ConstructorError(
                    None, None, "a merge key refers to the mapping that contains it", n.start_mark
                )
            if id(n) in seen or len(seen) > MAX_DEPTH * 16:
                continue
            seen.add(id(n))
            if isinstance(n, yaml.SequenceNode):
                todo.extend(n.value)
            elif isinstance(n, yaml.MappingNode):
                todo.extend(v for k, v in n.value if k.tag == _MERGE_TAG)


def _unknown_key(doc: Document, path: Path) -> ConfigProblem:
    message = "unknown key"
    if any(w in str(path[-1]).lower() for w in SECRET_WORDS):
        message += ": secrets are never written inline, use a *_file or *_env key"
    return doc.problem(path, message, key=True)


def spec_problems(doc: Document, exc: SpecError, prefix: Path) -> list[ConfigProblem]:
    """A Spec's problems (kernel.spec) located in the file, worded as pydantic's are here."""
    out = []
    for each in exc.problems:
        path: Path = (*prefix, *each.path)
        if each.message == "unknown key":
            out.append(_unknown_key(doc, path))
        else:
            out.append(doc.problem(path, each.message, key=each.key))
    return without_echoes(doc, out)


def pydantic_problems(doc: Document, exc: ValidationError, prefix: Path) -> list[ConfigProblem]:
    """Pydantic's errors as located problems, in words a person editing the file understands."""
    out = []
    for err in exc.errors():
        path: Path = (*prefix, *err["loc"])
        kind = err["type"]
        message = str(err["msg"])
        if kind == "extra_forbidden":
            out.append(_unknown_key(doc, path))
            continue
        if kind == "union_tag_invalid":
            ctx = err.get("ctx", {})
            what = str(ctx.get("discriminator", "type")).strip("'")
            out.append(doc.problem(path, f"unknown {what} {ctx.get('tag')!r} (known: {ctx.get('expected_tags')})"))
            continue
        if kind == "missing":
            out.append(doc.problem(path, "missing required key", key=True))
            continue
        message = message.removeprefix("Value error, ")
        if "input" in err and kind.endswith("_type"):
            message += f" (got {type(err['input']).__name__} {err['input']!r:.40})"
        out.append(doc.problem(path, message))
    return without_echoes(doc, out)


def without_echoes(doc: Document, problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """``problems`` less those that only repeat one the YAML reader found.

    A value the reader refused (a recursive alias, an impossible date) became None: a complaint
    about that None, or about what contains it, would only say the same thing again, worse.
    """
    said = [p.key for p in doc.problems]
    if not said:
        return problems
    keep = []
    for p in problems:
        if p in doc.problems or not any(k == p.key or k.startswith((p.key + ".", p.key + "[")) for k in said):
            keep.append(p)
    return keep
