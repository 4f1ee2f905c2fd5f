"""A report's HTML as the element tree WeasyPrint lays out, built by the standard library's parser.

WeasyPrint parses HTML with tinyhtml5, a pure-Python HTML5 parser that reads a character at a
time: 6 s of CPU for the 1,000-zone month's 1.6 MB, a tenth of its typesetting. The HTML our
templates write needs none of HTML5's error recovery, and for such a document the HTML5 tree is
the plain nesting of its tags, with one rule our tables rely on (a ``<tr>`` directly in a
``<table>`` sits in an implied ``<tbody>``). ``parse`` builds that tree with ``html.parser``,
about ten times faster, and gives up (None: the caller lets tinyhtml5 parse) on anything where
HTML5 would recover, repair or switch parsers: an end tag that does not close the open element, a
block inside a ``<p>``, text or a stray tag inside a table, foreign content (SVG, MathML),
comments, a carriage return, a bare ``&``. A test holds it to tinyhtml5's tree, element by
element, on every report and on generated tag soup: the same tree or None, never another tree.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"])
# Elements HTML5 parses otherwise (raw text, foreign content, forms, frames...): left to tinyhtml5.
_OTHER = frozenset(
    [
        "applet",
        "base",
        "basefont",
        "bgsound",
        "body",
        "button",
        "col",
        "colgroup",
        "dd",
        "dialog",
        "dir",
        "dt",
        "embed",
        "form",
        "frame",
        "frameset",
        "head",
        "html",
        "iframe",
        "image",
        "input",
        "isindex",
        "keygen",
        "listing",
        "marquee",
        "math",
        "menu",
        "nobr",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "optgroup",
        "option",
        "param",
        "plaintext",
        "rb",
        "rp",
        "rt",
        "rtc",
        "ruby",
        "script",
        "select",
        "source",
        "svg",
        "template",
        "textarea",
        "title",
        "track",
        "xmp",
    ]
)
# A start tag of these closes an open <p> (HTML5, "in body"): a <p> holding one is not ours.
_CLOSES_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "details",
        "div",
        "dl",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "search",
        "section",
        "summary",
        "table",
        "ul",
    ]
)
_HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
_TABLE_PARTS = frozenset(["tbody", "thead", "tfoot"])
# What may open where the current node is a table, a row group or a row.
_IN_TABLE = {"table": frozenset({"tr", "tbody", "thead", "tfoot", "caption"}),
             "tbody": frozenset({"tr"}), "thead": frozenset({"tr"}), "tfoot": frozenset({"tr"}),
             "tr": frozenset({"td", "th"})}  # fmt: skip
_HEAD_CHILDREN = frozenset({"meta", "title", "style", "link"})
_WHITESPACE = re.compile(r"[ \t\n\f]*\Z")
# A document HTML5 would read otherwise from the first byte: a carriage return (normalised), a
# NUL, an "&" that is not a complete character reference (legacy rules for bare ones).
_UNSAFE = re.compile(r"\r|\x00|&(?!#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
_DOCTYPE = re.compile(r"\s*<!doctype html>", re.IGNORECASE)


class _NotOurs(Exception):
    """The document needs HTML5's recovery: tinyhtml5 parses it."""


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: ET.Element | None = None
        self.stack: list[ET.Element] = []
        self.implied: set[int] = set()  # ids of the <tbody> elements HTML5 implied
        self.stage = "start"  # start, html, head, after-head, body, after-body, done (after </html>)
        self.after_pre = False

    # -- text --------------------------------------------------------------------------------
    def _append(self, node: ET.Element, text: str) -> None:
        if len(node):
            last = node[-1]
            last.tail = (last.tail or "") + text
        else:
            node.text = (node.text or "") + text

    def handle_data(self, data: str) -> None:
        if self.after_pre:  # HTML5 drops the newline that opens a <pre>
            self.after_pre = False
            data = data.removeprefix("\n")
            if not data:
                return
        blank = _WHITESPACE.match(data) is not None
        if self.stage in ("start", "html"):
            if blank:
                return  # ignored before <head>
            raise _NotOurs
        if not blank and (
            self.stack[-1].tag in ("html", "head")
            or self.stage in ("after-body", "done")
            or self.stack[-1].tag in _IN_TABLE
        ):
            raise _NotOurs  # text HTML5 would move (out of a table) or that implies a <body>
        self._append(self.stack[-1], data)

    # -- tags --------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.after_pre = False
        attrib: dict[str, str] = {}
        for name, value in attrs:
            attrib.setdefault(name, value or "")  # HTML5 keeps the first of repeated attributes
        if self.stage == "start":
            self._open_root(tag, attrib)
        elif self.stage in ("html", "after-head"):
            self._open_document_part(tag, attrib)
        elif self.stage == "head":
            if tag not in _HEAD_CHILDREN:
                raise _NotOurs
            self._open(tag, attrib)
        elif self.stage == "body":
            self._open_in_body(tag, attrib)  # (after </body> or </html>, a tag reopens the body: not ours)
        else:
            raise _NotOurs

    def _open_root(self, tag: str, attrib: dict[str, str]) -> None:
        if tag != "html":
            raise _NotOurs
        self.root = ET.Element("html", attrib)
        self.stack = [self.root]
        self.stage = "html"

    def _open_document_part(self, tag: str, attrib: dict[str, str]) -> None:
        wanted = "head" if self.stage == "html" else "body"
        if tag != wanted:
            raise _NotOurs
        self._open(tag, attrib)
        self.stage = wanted

    def _open_in_body(self, tag: str, attrib: dict[str, str]) -> None:
        node = self.stack[-1]
        if tag in _OTHER or ":" in tag:
            raise _NotOurs
        if node.tag in _IN_TABLE:
            if tag not in _IN_TABLE[node.tag]:
                raise _NotOurs  # HTML5 would imply a row, a cell or foster the element out
            if node.tag == "table" and tag == "tr":
                tbody = self._open("tbody", {})
                self.implied.add(id(tbody))
        elif tag in ("tr", "td", "th", "caption") or tag in _TABLE_PARTS:
            raise _NotOurs  # a table part outside its table is ignored by HTML5
        open_tags = {e.tag for e in self.stack}
        if tag in _CLOSES_P and "p" in open_tags:
            raise _NotOurs
        if (tag in _HEADINGS and open_tags & _HEADINGS) or (tag == "a" and "a" in open_tags):
            raise _NotOurs  # HTML5 closes the open heading or link first
        if tag == "li" and self._in_item():
            raise _NotOurs  # HTML5 closes the open item first
        self._open(tag, attrib)
        self.after_pre = tag == "pre"

    def _in_item(self) -> bool:
        """An <li> open and no list opened inside it: a new <li> would close it (HTML5)."""
        for element in reversed(self.stack):
            if element.tag == "li":
                return True
            if element.tag in ("ul", "ol"):
                return False
        return False

    def _open(self, tag: str, attrib: dict[str, str]) -> ET.Element:
        element = ET.SubElement(self.stack[-1], tag, attrib)
        if tag not in VOID:
            self.stack.append(element)
        return element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            raise _NotOurs  # HTML5 ignores the slash: the element stays open
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.after_pre = False
        if tag in VOID:
            raise _NotOurs  # </br> is a <br> to HTML5; the others are ignored
        if self.stage == "after-body":
            if tag != "html":
                raise _NotOurs
            self.stage = "done"
            return
        if tag == "table" and self.stack[-1].tag == "tbody" and id(self.stack[-1]) in self.implied:
            self.stack.pop()
        if len(self.stack) < 2 or self.stack[-1].tag != tag:
            raise _NotOurs
        if tag == "head":
            self.stage = "after-head"
        elif tag == "body":
            self.stage = "after-body"
            return  # HTML5 keeps <body> current: what follows it (blank) is appended to it
        self.stack.pop()

    def handle_comment(self, data: str) -> None:
        raise _NotOurs

    def handle_decl(self, decl: str) -> None:
        raise _NotOurs  # the one allowed doctype is read before the parser starts

    def handle_pi(self, data: str) -> None:
        raise _NotOurs

    def unknown_decl(self, data: str) -> None:
        raise _NotOurs


def parse(html: str) -> ET.Element | None:
    """The HTML5 tree of ``html`` (its ``<html>`` element), or None where HTML5's recovery would
    make it differ from the document's plain nesting."""
    doctype = _DOCTYPE.match(html)
    if doctype is None or _UNSAFE.search(html):
        return None  # no doctype: quirks mode, whose tables and paragraphs nest otherwise
    builder = _Builder()
    try:
        builder.feed(html[doctype.end() :])
        builder.close()
    except _NotOurs:
        return None
    if builder.stage not in ("after-body", "done") or builder.rawdata or builder.root is None:
        return None
    # </html> is not needed: blank text after </body> and </html> sits at the end of <body>.
    return builder.root
