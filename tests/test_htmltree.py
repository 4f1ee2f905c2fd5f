"""render.htmltree builds the tree WeasyPrint lays out with the standard library's parser: the same
tree as tinyhtml5 (WeasyPrint's own parser) element by element, or None and tinyhtml5 parses."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
import tinyhtml5

import config as cfg
from render import engine, htmltree, pdfparts
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.page import Header
from store import db as st
from tests.reports.test_opendata import BOGOTA, filled, t
from tests.test_pdfparts import long_report

__all__ = ["filled"]


def canon(e: ET.Element) -> tuple[Any, ...]:
    tag = e.tag if isinstance(e.tag, str) else "<comment>"
    return (tag, sorted(e.attrib.items()), e.text, e.tail, [canon(c) for c in e])


def html5(html: str) -> tuple[Any, ...]:
    return canon(tinyhtml5.parse(html, namespace_html_elements=False))


def test_the_monthly_report_and_its_parts_parse_to_tinyhtml5s_tree(
    filled: tuple[st.Store, cfg.Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, conf = filled
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    monkeypatch.setattr(pdfparts, "WHOLE_BELOW", 1_000)
    monkeypatch.setattr(pdfparts, "PART_SIZE", 2_000)
    ours = 0
    for lang in ("es", "en"):
        html = render(figures, lang=lang, header=Header(code="GTIC-F-017"), generated=datetime(2025, 2, 1, tzinfo=UTC))
        parts = pdfparts.split(html)
        assert parts is not None and len(parts) >= 5
        for document in [html, *parts]:
            tree = htmltree.parse(document)
            if "<svg" in document:
                assert tree is None  # foreign content: tinyhtml5's
                continue
            assert tree is not None, document[document.find("<body>") :][:300]
            assert canon(tree) == html5(document)
            ours += 1
    assert ours >= 8  # the per-zone tables' parts are the ones the fast path is for
    store.close()


@pytest.mark.parametrize(
    "body",
    [
        "<p>a</p>\n<table>\n <tr><td>1</td></tr>\n <tr><th>2</th></tr>\n</table>\n",
        "<table><thead><tr><th>x</th></tr></thead>\n<tr><td>y</td></tr></table>",
        '<p class="n" class="m" hidden>x &amp; y &lt;z&gt; &#241; &#x20AC; &eacute;</p>',
        "<pre>\nkept\n</pre><pre>\n\nsecond</pre>",
        "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul><ol><li>d</li></ol>",
        "<div><span>a<br>b<br/>c</span><hr><h2>t</h2></div>",
        "<p>x<a href='#a'>y</a></p>\n",
        "<table><tr><td><table><tr><td>in</td></tr></table></td></tr></table>",
    ],
)
def test_clean_documents_parse_to_tinyhtml5s_tree(body: str) -> None:
    html = f"<!doctype html>\n<html lang='es'>\n<head>\n<meta charset='utf-8'><title>T &amp; t</title>\n</head>\n<body>\n{body}</body>\n</html>\n"  # noqa: E501
    tree = htmltree.parse(html)
    assert tree is not None
    assert canon(tree) == html5(html)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("<p>a<div>b</div></p>", "a block in a <p>: HTML5 closes the <p>"),
        ("<table>x<tr><td>1</td></tr></table>", "text in a table is fostered out of it"),
        ("<table><td>1</td></table>", "a cell straight in a table implies a row"),
        ("<p>a<p>b</p></p>", "a <p> in a <p>"),
        ("<ul><li>a<li>b</li></li></ul>", "an <li> in an open <li>"),
        ("<div>a</span></div>", "an end tag that closes nothing"),
        ("<div/>x", "a self-closing non-void element stays open"),
        ("<p>a</br></p>", "</br> is a <br>"),
        ("<!-- c --><p>a</p>", "comments"),
        ("<svg viewBox='0 0 1 1'><clipPath/></svg>", "foreign content"),
        ("<p>a & b</p>", "a bare ampersand"),
        ("<p>a\r\nb</p>", "a carriage return"),
        ("<td>1</td>", "a cell outside a table"),
        ("<h2>a<h3>b</h3></h2>", "a heading in a heading"),
        ("<a href='x'>a<a href='y'>b</a></a>", "a link in a link"),
        ("<script>a</script>", "raw text HTML5 reads its own way"),
    ],
)
def test_documents_html5_would_repair_are_left_to_tinyhtml5(body: str, why: str) -> None:
    html = f"<!doctype html>\n<html><head><title>T</title></head>\n<body>\n{body}\n</body></html>"
    assert htmltree.parse(html) is None, why


@pytest.mark.parametrize(
    "html",
    [
        "<html><head></head><body><p>a</p></body></html>",  # no doctype: quirks mode
        "<!doctype html><p>a</p>",  # implied html, head, body
        "<!doctype html><html><head></head><body><p>a</p></body><p>b</p></html>",  # content after </body>
        "<!doctype html><html><head><p>a</p></head><body></body></html>",  # a <p> in the head
        "<!doctype html><html><head></head><body><p>a</p>",  # never closed
    ],
)
def test_documents_outside_the_templates_shape_are_left_to_tinyhtml5(html: str) -> None:
    assert htmltree.parse(html) is None


_TAGS = ["p", "div", "span", "table", "tr", "td", "th", "tbody", "thead", "ul", "ol", "li", "h2", "h3", "pre",
         "a", "strong", "br", "hr", "style", "em", "caption"]  # fmt: skip
_TEXT = ["x", " ", "\n", "  \n ", "&amp;", "&lt;", "é", "&#241;", "1,5 %", "a b"]


def _soup(rnd: random.Random, depth: int = 0) -> str:
    out = []
    for _ in range(rnd.randint(0, 4)):
        if rnd.random() < 0.4 or depth > 4:
            out.append(rnd.choice(_TEXT))
            continue
        tag = rnd.choice(_TAGS)
        attrs = rnd.choice(["", ' class="n"', " hidden", ' id="a" id="b"', " data-zone='ZD-01'"])
        if tag in ("br", "hr"):
            out.append(f"<{tag}{attrs}{rnd.choice(['', '/'])}>")
            continue
        inner = _soup(rnd, depth + 1)
        end = rnd.choices([f"</{tag}>", "", f"</{rnd.choice(_TAGS)}>"], weights=[8, 1, 1])[0]
        out.append(f"<{tag}{attrs}>{inner}{end}")
    return "".join(out)


def test_generated_tag_soup_gives_tinyhtml5s_tree_or_none() -> None:
    # The invariant the typesetter relies on, over 3,000 seeded documents of our templates' tags,
    # some nested as HTML5 repairs, some not: the same tree as tinyhtml5's or None, never another.
    rnd = random.Random(31)
    taken = 0
    for _ in range(3000):
        html = f"<!doctype html>\n<html><head><title>T</title></head>\n<body>{_soup(rnd)}</body>\n</html>\n"
        tree = htmltree.parse(html)
        if tree is not None:
            assert canon(tree) == html5(html), html
            taken += 1
    assert 300 <= taken <= 2700, taken  # both ways taken often: the test is not vacuous


def test_a_part_typeset_from_our_tree_is_byte_for_byte_weasyprints_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdfparts, "WHOLE_BELOW", 20_000)
    monkeypatch.setattr(pdfparts, "PART_SIZE", 15_000)
    part = pdfparts.split(long_report(300)) or []
    assert part and htmltree.parse(part[0]) is not None
    ours = engine.typeset_whole(part[0])
    monkeypatch.setattr(htmltree, "parse", lambda html: None)
    assert ours == engine.typeset_whole(part[0])


def test_another_weasyprint_html_object_is_parsed_by_weasyprint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Our tree goes into WeasyPrint's HTML object by the fields its __init__ sets; a WeasyPrint
    # that sets others gets every document to parse itself.
    asked: list[str] = []
    monkeypatch.setattr(htmltree, "parse", asked.append)
    monkeypatch.setattr(engine, "_html_fields", lambda: frozenset({"base_url", "tree"}))
    document = engine._document(long_report(5))
    assert asked == [] and document.etree_element.find("body") is not None
