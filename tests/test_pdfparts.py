"""A long report is typeset in parts by worker processes and joined (render.pdfparts): what the
pages say must not depend on where the document was cut."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

import config as cfg
from kernel.errors import VigiaError
from render import pdfparts, pdfworker
from render.engine import html_to_pdf, typeset_whole
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.page import Header
from store import db as st
from tests.reports.test_opendata import BOGOTA, filled, t

__all__ = ["filled"]

HEAD = (
    '<!doctype html>\n<html lang="es">\n<head>\n<meta charset="utf-8">\n<title>Informe de prueba</title>\n<style>\n'
    "  @page { size: A4; margin: 16mm 13mm; @bottom-right { content: counter(page) ' / ' counter(pages); }\n"
    "          @top-center { content: 'PRELIMINAR'; } }\n"
    "  table { border-collapse: collapse; } td, th { border: 1px solid #bbb; }\n"
    "</style>\n</head>\n"
)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The production sizes cut a 1,000-zone report; a 1,000-row table shows the same cuts faster.
    monkeypatch.setattr(pdfparts, "WHOLE_BELOW", 40_000)
    monkeypatch.setattr(pdfparts, "PART_SIZE", 30_000)


def long_report(rows: int = 1000) -> str:
    body = ["<h1>Informe</h1>\n<p>Resumen.</p>\n<h2>Zonas</h2>\n", '<table id="zones">\n']
    body.append("  <tr><th>Zona</th><th>Disponibilidad</th><th>Caída (min)</th></tr>\n")
    body += [f'<tr data-zone="Z{n:05d}"><td>Z{n:05d}</td><td class="n">99,{n % 100:02d} %</td><td>{n % 7}</td></tr>\n'
             for n in range(rows)]  # fmt: skip
    body.append("</table>\n<h2>Metodología</h2>\n<p>Cada cifra sale de filas medidas.<br>Fin.</p>\n")
    return HEAD + "<body>\n" + "".join(body) + "</body>\n</html>\n"


class Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in ("br", "meta"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.ok = self.ok and bool(self.stack) and self.stack.pop() == tag


def test_a_long_document_is_cut_between_elements_and_a_cut_table_repeats_its_header() -> None:
    html = long_report()
    parts = pdfparts.split(html)
    assert parts is not None and len(parts) >= 3
    rows: list[str] = []
    for part in parts:
        check = Balance()
        check.feed(part)
        assert check.ok and not check.stack, "every part is a whole, balanced document"
        assert "@top-center { content: none }" in part  # margins are typeset once, for the whole
        if 'data-zone="' in part:
            assert "<th>Zona</th>" in part  # a table continued in a part opens with its header row
        rows += re.findall(r'data-zone="(Z\d+)"', part)
    assert rows == [f"Z{n:05d}" for n in range(1000)]  # every row once, in order
    assert "Metodología" in parts[-1]


def test_short_or_unfollowable_documents_are_typeset_whole() -> None:
    assert pdfparts.split(long_report(rows=40)) is None  # short
    broken = long_report().replace("</table>", "</div>", 1)  # a tag the parser cannot follow
    assert pdfparts.split(broken) is None


def test_the_joined_pdf_reads_as_one_document_numbered_throughout() -> None:
    joined = html_to_pdf(long_report())
    pdf = PdfReader(io.BytesIO(joined))
    pages = [page.extract_text() for page in pdf.pages]
    total = len(pages)
    assert total > 10
    for n, text in enumerate(pages, 1):
        assert f"{n} / {total}" in text, f"page {n} must say '{n} / {total}'"
        assert "PRELIMINAR" in text  # every page's margin mark, even where a part began
    rows = re.findall(r"Z\d{5}", " ".join(pages))
    assert rows == [f"Z{n:05d}" for n in range(1000)]
    assert pdf.metadata is not None and pdf.metadata.title == "Informe de prueba"
    # Joined and stamped, the pages stay compressed: about the size of the document typeset whole.
    assert len(joined) < 2 * len(typeset_whole(long_report()))


def test_a_worker_that_dies_is_an_error_naming_the_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdfworker.sys, "executable", "/bin/false")
    with pytest.raises(
        VigiaError, match=r"part \d+ of \d+ could not be typeset: (the worker ended|the typesetting worker is gone)"
    ):
        html_to_pdf(long_report())


def test_a_document_the_worker_cannot_typeset_is_told_and_the_next_one_typeset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def typeset(html: str) -> bytes:
        if "roto" in html:
            raise ValueError("no se puede")
        return html.encode()

    monkeypatch.setattr("render.engine.typeset_whole", typeset)
    source, sink = io.BytesIO(), io.BytesIO()
    for text in ("roto", "bien"):
        pdfworker._send(source, text.encode())
    source.seek(0)
    monkeypatch.setattr(pdfworker.sys, "stdin", io.TextIOWrapper(source))
    monkeypatch.setattr(pdfworker.sys, "stdout", io.TextIOWrapper(sink))
    assert pdfworker.main() == 0
    sink.seek(0)
    assert pdfworker._receive(sink) == b"EValueError: no se puede"
    assert pdfworker._receive(sink) == b"Pbien"
    assert pdfworker._receive(sink) is None


def test_a_worker_stuck_on_a_part_is_killed_and_the_part_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stuck = tmp_path / "stuck"
    stuck.write_text("#!/bin/sh\nexec sleep 30\n")  # a worker that never answers
    stuck.chmod(0o755)
    monkeypatch.setattr(pdfworker, "PART_SECONDS", 1.0)
    monkeypatch.setattr(pdfworker.sys, "executable", str(stuck))
    with pytest.raises(VigiaError, match=r"part 1 of 1 could not be typeset: no answer within 1 s"):
        pdfworker.typeset_parts(["<p>x</p>"], workers=1)


def test_the_monthly_report_in_parts_says_all_the_whole_one_says_in_its_order(
    filled: tuple[st.Store, cfg.Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real template cut small (its sections and its per-zone tables): every word of the PDF
    # typeset whole is in the joined one, in the same order; the joined one adds only the repeated
    # header rows of cut tables and its own page numbers.
    store, conf = filled
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    html = render(figures, lang="es", header=Header(code="GTIC-F-017"), generated=datetime(2025, 2, 1, tzinfo=UTC))
    monkeypatch.setattr(pdfparts, "WHOLE_BELOW", 1_000)
    monkeypatch.setattr(pdfparts, "PART_SIZE", 2_000)
    parts = pdfparts.split(html)
    assert parts is not None and len(parts) >= 5

    def words(pdf: bytes) -> list[str]:
        pages = PdfReader(io.BytesIO(pdf)).pages
        total = len(pages)
        return [w for n, p in enumerate(pages, 1) for w in p.extract_text().replace(f"{n} / {total}", " ").split()]

    whole, joined = words(typeset_whole(html)), words(html_to_pdf(html))
    assert not Counter(whole) - Counter(joined), "no word of the whole PDF is lost in the joined one"
    # Zones and figures in the same order (a map's labels may be extracted in another order when
    # the figure sits elsewhere on its page; the tables' rows may not).
    figure = re.compile(r"ZD-\d+|\d+,\d+")
    rest = iter([w for w in joined if figure.fullmatch(w)])
    missing = [w for w in whole if figure.fullmatch(w) and not any(w == j for j in rest)]
    assert not missing, f"the joined PDF reordered: {missing[:10]}"
    assert "99,70" in " ".join(joined) and "ZD-01" in joined
    store.close()
