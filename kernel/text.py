"""Text that crosses a boundary: what an operator types in, and what vigia writes out.

In: an operator's text (a title, a reason) is one line of printable characters. A control
character in it is never meant: an ESC or BEL pasted from a terminal, a CR that splits a CSV row,
a bidirectional override that makes a title read differently from what it says (CVE-2021-42574).
They are refused with where they are, before anything is stored.

Kept: what a peer wrote (a probe's message quoting a device's answer, an agent's result, a mail
server's error) is measured, not typed: it is stored, never refused, since no retry would mend it
and a write refused whole holds back every result behind it. Only what a store cannot hold goes:
NUL, which PostgreSQL's text refuses, and lone surrogates, which are not UTF-8 (``storable``).

Out: rows stored before these checks existed, inventory text from a configuration, a peer's
banner still reach outputs, so each output neutralises them in its own way: a terminal shows them
escaped (``\\x1b``), a CSV cell gets a space, XML drops what XML 1.0 forbids.
"""

from __future__ import annotations

import re

from kernel.errors import InputError

# C0 and C1 controls and DEL, the line and paragraph separators, and the bidirectional
# embeddings, overrides and isolates.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What XML 1.0 does not allow in a document at all (a feed reader drops the whole feed on one).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Lone surrogates: what Python makes of bytes in argv that are not UTF-8 (surrogateescape).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def controls(text: str) -> list[tuple[int, str]]:
    """The control characters in ``text``: (1-based position, the character)."""
    return [(m.start() + 1, m.group()) for m in _CONTROL.finditer(text)]


def checked(what: str, text: str, limit: int, *, empty: bool = False) -> str:
    """``text`` stripped, as an operator's one-line input must be; InputError naming ``what`` and
    the first problem: empty (unless ``empty``), longer than ``limit``, a control character, or
    bytes that were not UTF-8."""
    text = text.strip()
    if not text and not empty:
        raise InputError(f"{what} is empty")
    bad = _SURROGATE.search(text)
    if bad:
        raise InputError(f"{what} is not valid UTF-8 (at character {bad.start() + 1})")
    found = controls(text)
    if found:
        at, char = found[0]
        raise InputError(f"{what} has a control character ({escape_char(char)}) at character {at}; type plain text")
    if len(text) > limit:
        raise InputError(f"{what} has {len(text)} characters; at most {limit}")
    return text


def storable(text: str) -> str:
    """A peer's text as every store keeps it: NUL and lone surrogates as U+FFFD, the rest as it is
    (the same on SQLite, which would take them, so both stores say the same)."""
    if "\x00" not in text and text.isascii():  # nearly every message: one pass in C
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """For a terminal: every control character (and undecodable byte) shown escaped, so a stored
    text can neither move the cursor nor recolour the screen of whoever lists it."""
    text = _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return _CONTROL.sub(lambda m: escape_char(m.group()), text)


def one_line(text: str) -> str:
    """For a CSV cell or a log field: each control character replaced by a space."""
    return _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", text))


def readable(value: object) -> object:
    """For HTML (Jinja's ``finalize``, so every value a template prints passes here): a string's
    control characters but the line feed replaced by a space; anything else as it is. Markup (a
    value marked ``| safe``: SVG that vigia drew, its texts escaped when drawn) stays markup: cleaned
    here it would become plain text again and be printed escaped, as the bars and the map once were."""
    if hasattr(value, "__html__"):
        return value
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: m.group() if m.group() == "\n" else " ", value)
    return value


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (escape <, > and & separately)."""
    return _NOT_XML.sub("", text)


def undecodable_argument(argv: list[str]) -> tuple[int, str] | None:
    """The first command-line argument that was not UTF-8 (1-based index, shown escaped)."""
    for i, arg in enumerate(argv, 1):
        if _SURROGATE.search(arg):
            return i, printable(arg)
    return None
