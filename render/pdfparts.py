"""A long report typeset in parts, on both cores, then joined into one PDF.

WeasyPrint lays a document out whole, in one process: a 1,000-zone monthly report (150 pages of
per-zone tables) took 40 s of one core and 1.1 GB. So a long document is cut into parts at element
boundaries (between sections, or between rows of a long table, its header row repeated), the parts
are typeset by worker processes, and pypdf joins them. What the pages say cannot depend on the
cut: the page margins (the page number "12 / 151", the preliminary mark) are left out of the
parts and typeset once for the whole document, on pages of its own laid over the parts' pages.

The cut points are found by the standard library's HTML parser, on HTML our own templates wrote;
a document it cannot follow (unbalanced tags) is typeset whole, as a short one is.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from html.parser import HTMLParser

from render.pdfworker import Pool

# A document shorter than this is typeset whole: starting workers costs more than it saves.
WHOLE_BELOW = 300_000
# About 120 kB of table HTML lays out into ~12 pages and ~150 MB: parts this size keep two workers
# (and the process that joins them) within the month close's memory budget.
PART_SIZE = 120_000
WORKERS = 2

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_MARGIN_BOXES = [
    "top-left-corner",
    "top-left",
    "top-center",
    "top-right",
    "top-right-corner",
    "right-top",
    "right-middle",
    "right-bottom",
    "bottom-right-corner",
    "bottom-right",
    "bottom-center",
    "bottom-left",
    "bottom-left-corner",
    "left-bottom",
    "left-middle",
    "left-top",
]
# The parts leave every page-margin box empty; the margins are typeset once for the whole document.
NO_MARGINS = "@page { " + " ".join(f"@{box} {{ content: none }}" for box in _MARGIN_BOXES) + " }"


class _Cuts(HTMLParser):
    """The offsets in a body where it may be cut: before a top-level element, or before a row of a
    top-level table (then the part after it reopens the table and repeats its header row)."""

    def __init__(self, body: str) -> None:
        super().__init__(convert_charrefs=False)
        self.body = body
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", body))]
        self.stack: list[str] = []
        self.cuts: list[tuple[int, str, str]] = []  # offset, what closes the part before, what opens the next
        self.table_open = ""
        self.header = ""
        self.row_start = -1
        self.balanced = True

    def position(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = self.position()
        if not self.stack:
            self.cuts.append((at, "", ""))
            if tag == "table":
                self.table_open, self.header = self.get_starttag_text() or "<table>", ""
        elif self.stack == ["table"] and tag == "tr":
            if self.row_start >= 0:
                self.cuts.append((at, "</table>", self.table_open + self.header))
            self.row_start = at
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.balanced = False  # a document we cannot follow is typeset whole
            return
        self.stack.pop()
        if tag == "tr" and self.stack == ["table"] and not self.header:
            row = self.body[self.row_start : self.position() + len("</tr>")]
            self.header = row if "<th" in row and "<td" not in row else " "
        if tag == "table" and not self.stack:
            self.row_start = -1


def split(html: str) -> list[str] | None:
    """The document as whole documents of about PART_SIZE characters each, or None to typeset it whole."""
    start = html.find("<body>")
    end = html.rfind("</body>")
    if len(html) < WHOLE_BELOW or start < 0 or end < start:
        return None
    head, body, tail = html[:start], html[start + len("<body>") : end], html[end:]
    parser = _Cuts(body)
    parser.feed(body)
    parser.close()
    if not parser.balanced or parser.stack:
        return None
    head = head.replace("</head>", f"<style>{NO_MARGINS}</style>\n</head>", 1)
    parts: list[str] = []
    begun, opening = 0, ""
    for at, closing, reopening in parser.cuts:
        if at - begun >= PART_SIZE:
            parts.append(opening + body[begun:at] + closing)
            begun, opening = at, reopening
    parts.append(opening + body[begun:])
    if len(parts) < 2:
        return None
    return [f"{head}<body>{part}{tail}" for part in parts]


def margins(html: str, pages: int) -> str:
    """The document's page margins alone, on ``pages`` empty pages (the same @page rules)."""
    start = html.find("<body>")
    head = html[:start] if start >= 0 else html
    blank = '<div style="break-after: page"></div>' * (pages - 1)
    return f"{head}<body>{blank}<div></div></body></html>"


def typeset(html: str, render: Callable[[str], bytes], workers: int = WORKERS) -> bytes | None:
    """The PDF of a long document typeset in parts by ``workers`` worker processes and joined, its
    margins by ``render`` here; None when the document is short (the caller typesets it whole)."""
    from pypdf import PdfReader, PdfWriter

    if len(html) < WHOLE_BELOW:
        return None
    # Started before the cut: they load WeasyPrint while this process finds the cut points.
    with Pool(max(1, min(workers, os.cpu_count() or 1))) as pool:
        parts = split(html)
        if parts is None:
            return None
        pdfs = pool.typeset(parts)
    readers = [PdfReader(io.BytesIO(pdf)) for pdf in pdfs]
    writer = PdfWriter()
    for reader in readers:
        writer.append(reader)
    first = readers[0].metadata  # the title and producer, as the whole document would have them
    if first:
        writer.add_metadata({k: v for k, v in first.items() if isinstance(v, str)})
    stamp = PdfReader(io.BytesIO(render(margins(html, len(writer.pages)))))
    for page, margin in zip(writer.pages, stamp.pages, strict=True):
        page.merge_page(margin)
        # merge_page writes the page's joined content uncompressed: a 157-page report was 16 MB
        # where its parts summed 1.4 MB.
        page.compress_content_streams()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
