"""The engine: Jinja2 (autoescape, StrictUndefined, i18n with Babel catalogues), locale-aware
numbers, dates and durations, self-contained HTML and PDF through WeasyPrint.

Templates carry English message ids; the Spanish (es_CO) catalogue is the default language. A
caller names its own template folder; ``base.html.j2`` (the document every report extends) is
found here behind it. Inventory names and every other value are data passed to templates, never
template source. The PDF renderer fetches nothing from the network: only assets in render/assets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from kernel.text import readable
from render import htmltree
from render.catalogue import LOCALES, translations

HERE = Path(__file__).parent


@functools.lru_cache(maxsize=16)
def environment(lang: str, folder: str) -> jinja2.Environment:
    """One environment per language and template folder; the folder's templates first, then the
    render layer's own (``base.html.j2``)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(folder), jinja2.FileSystemLoader(str(HERE / "templates"))]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Every printed value: an ESC or a bidirectional override in an inventory name or an old
        # operator's text never reaches a page (a Trojan-source title, a broken PDF line).
        finalize=readable,
        # Templates are the package's files: not stat()ed again at every render (4,000 row
        # renders when the status page's bars are read again).
        auto_reload=False,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(formats(lang))  # the same as words made in code: one cache of figures a language
    return env


def duration(seconds: float | None) -> str:
    """A drill's durations: "1 h 02 min 03 s", "4 min 05 s", "7 s" (the same in both languages)."""
    if seconds is None:
        return "—"
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min {s:02d} s" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


@functools.lru_cache(maxsize=len(LOCALES))
def formats(lang: str) -> dict[str, Callable[..., str]]:
    """The template filters for ``lang``, for words made in code (one set per language, shared)."""
    return formatters(Locale.parse(LOCALES[lang]))


def formatters(locale: Locale) -> dict[str, Callable[..., str]]:
    # Spanish (es_CO) writes "99,2 %"; English "99.2%".
    sign = " %" if locale.language == "es" else "%"

    def written(value: float | Decimal, digits: int) -> str:
        return format_percent(value, format="#,##0." + "0" * digits + sign, locale=locale)

    @functools.lru_cache(maxsize=16384)
    def percent(negative: bool, rounded: Decimal, digits: int) -> str:
        return written((rounded.copy_negate() if negative else rounded).scaleb(-2), digits)

    # The figures last written, by float and digits: a zone's 30-day figure is printed in its row
    # and its badge, and the Decimal that keys ``percent`` costs more than the lookup. Zero is not
    # kept here (0.0 == -0.0, and Babel writes their signs apart).
    shown: dict[tuple[float, int], str] = {}

    def pct(value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        if type(value) is float and value and (text := shown.get((value, digits))) is not None:
            return text
        # Babel writes the percent of Decimal(str(value)) rounded to ``digits`` (half even), with
        # its sign: kept by those two, the ~60 us it takes a figure is spent once per figure shown,
        # not once per day of each zone's 90-day bar (2,000 zones: 360,000 a page, 20 s of CPU).
        exact = Decimal(str(value)).scaleb(2)
        if not exact.is_finite():
            return written(value, digits)
        text = percent(exact.is_signed(), abs(exact).quantize(Decimal(1).scaleb(-digits)), digits)
        if type(value) is float and value:
            if len(shown) >= 65536:  # bounded: a month's report prints many figures once
                shown.clear()
            shown[(value, digits)] = text
        return text

    def num(value: float | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""), locale=locale)

    def month(value: date) -> str:
        return format_date(value, format="MMMM 'de' y" if locale.language == "es" else "MMMM y", locale=locale)

    def day(value: date | datetime) -> str:
        return format_date(value, format="long", locale=locale)

    def when(value: datetime) -> str:
        return format_datetime(value, format="yyyy-MM-dd HH:mm", locale=locale)

    def minutes(seconds: float | None) -> str:
        return "—" if seconds is None else num(seconds / 60, 1)

    return {"pct": pct, "num": num, "month": month, "day": day, "when": when, "minutes": minutes, "dur": duration}


def render_html(folder: Path, template: str, lang: str, **context: Any) -> str:
    # ``preliminary``: a month still running (``vigia report month --preview``), marked on every page.
    env = environment(lang, str(folder))
    return env.get_template(template).render(lang=lang, **{"preliminary": False, **context})


def _bundled_only_fetcher() -> Any:
    """A WeasyPrint fetcher reduced to the bundled assets folder: nothing from the network or elsewhere."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    assets = (HERE / "assets").resolve()

    class BundledOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith("file://"):
                path = Path(url.removeprefix("file://").split("?")[0]).resolve()
                if path.is_relative_to(assets) and path.is_file():
                    return URLFetcherResponse(url, path.read_bytes(), {}, 200)
            raise ValueError(f"the PDF renderer fetches only bundled assets, not {url[:80]}")

    return BundledOnly()


def html_to_pdf(html: str) -> bytes:
    """The PDF of a report: a long one typeset in parts on both cores (render.pdfparts)."""
    from render.pdfparts import typeset

    return typeset(html, typeset_whole) or typeset_whole(html)


def typeset_whole(html: str) -> bytes:
    pdf = _document(html).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def _document(html: str) -> Any:
    """WeasyPrint's document of ``html``: its tree built by render.htmltree where that gives
    tinyhtml5's tree (a quarter of the parse's time), else parsed by WeasyPrint itself."""
    import cssselect2
    import weasyprint  # heavy: only when a PDF is asked for

    base_url, fetcher = str(HERE / "assets") + "/", _bundled_only_fetcher()
    tree = htmltree.parse(html) if _html_fields() == _HTML_FIELDS else None
    if tree is None:
        return weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher)
    # What weasyprint.HTML.__init__ sets after its parse; checked against the installed
    # WeasyPrint (_html_fields): another set of fields and every document is parsed by it.
    document = object.__new__(weasyprint.HTML)
    document.base_url, document.url_fetcher, document.media_type = base_url, fetcher, "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(tree, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document


_HTML_FIELDS = frozenset({"base_url", "url_fetcher", "media_type", "wrapper_element", "etree_element"})


@functools.cache
def _html_fields() -> frozenset[str]:
    import weasyprint

    return frozenset(vars(weasyprint.HTML(string="<p>")))
