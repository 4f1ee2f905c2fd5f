"""YAML loading that remembers where every key and value stands.

PyYAML's safe loader silently keeps the last of two duplicate keys and forgets
line numbers once objects are built. Here the node tree is converted by hand:
duplicate keys become problems, and every path (("targets", 3, "http", "url"))
maps to its line and column so that validation errors can name them.

It lives in the bottom package because both the daemon's configuration and
the continuity plan are read with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from probes.errors import ConfigProblem

# Keys that look like secrets get a hint when refused: secrets come from files or the environment.
SECRET_WORDS = ("password", "secret", "community", "token", "passphrase")

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


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def load(file: str, text: str | None = None) -> Document:
    """Parse ``file`` (or ``text`` named ``file``) into a Document; never raises for bad YAML."""
    if text is None:
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            doc = Document(file, None)
            doc.problems.append(ConfigProblem(file, None, None, "", f"cannot read: {exc.strerror}"))
            return doc
    doc = Document(file, None)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc.data = {} if node is None else _convert(loader, node, (), doc)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        doc.problems.append(ConfigProblem(file, line, column, "", f"invalid YAML: {exc.problem}"))
    except yaml.YAMLError as exc:
        doc.problems.append(ConfigProblem(file, None, None, "", f"invalid YAML: {exc}"))
    finally:
        loader.dispose()
    return doc


def _at(doc: Document, node: yaml.Node, path: Path, message: str) -> ConfigProblem:
    return ConfigProblem(doc.file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path), message)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path, doc: Document) -> Any:
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # supports YAML merge keys (<<: *defaults)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int) or isinstance(key, bool):
                doc.problems.append(_at(doc, key_node, path, f"keys must be text, not {key!r}"))
                continue
            key = str(key)
            child = (*path, key)
            if key in out:
                first = doc.key_positions[child]
                doc.problems.append(_at(doc, key_node, child, f"duplicate key (first defined at line {first[0]})"))
                continue
            doc.key_positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(loader, value_node, child, doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), doc) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def pydantic_problems(doc: Document, exc: ValidationError, prefix: Path) -> list[ConfigProblem]:
    """Pydantic's errors as located problems, in words a person editing the file understands."""
    out = []
    for err in exc.errors():
        path: Path = (*prefix, *err["loc"])
        kind = err["type"]
        message = str(err["msg"])
        if kind == "extra_forbidden":
            key = str(path[-1])
            message = "unknown key"
            if any(w in key.lower() for w in SECRET_WORDS):
                message += ": secrets are never written inline, use a *_file or *_env key"
            out.append(doc.problem(path, message, key=True))
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
    return out
