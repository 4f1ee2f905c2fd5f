"""The report engine: Jinja2 (autoescape, StrictUndefined, i18n with Babel catalogs), locale-aware
numbers and dates, inline SVG charts, self-contained HTML and PDF through WeasyPrint.

Templates carry English message ids; the Spanish (es_CO) catalog is the default language.
Inventory names and every other value are data passed to templates, never template source.
The PDF renderer fetches nothing from the network: only assets bundled in reports/assets.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from config.sections import ReportSettings
from kernel.text import readable

HERE = Path(__file__).parent
LOCALES = {"es": "es_CO", "en": "en"}


_SETTINGS = ReportSettings()


@dataclass(frozen=True)
class Header:
    """The document header the office's quality system asks for (configurable: reports.* in the
    configuration, whose defaults are these)."""

    entity: str = _SETTINGS.entity
    office: str = _SETTINGS.office
    macroprocess: str = _SETTINGS.macroprocess
    process: str = _SETTINGS.process
    code: str = _SETTINGS.code
    version: str = _SETTINGS.version

    @classmethod
    def of(cls, rs: ReportSettings) -> Header:
        return cls(rs.entity, rs.office, rs.macroprocess, rs.process, rs.code, rs.version)


@functools.lru_cache(maxsize=4)
def translations(lang: str) -> NullTranslations:
    """The catalog for ``lang``, compiled from its .po file in memory (no binary files in the tree)."""
    locale = LOCALES[lang]
    po = HERE / "locale" / locale / "LC_MESSAGES" / "vigia.po"
    if not po.exists():
        return NullTranslations()
    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


@functools.lru_cache(maxsize=4)
def environment(lang: str) -> jinja2.Environment:
    locale = Locale.parse(LOCALES[lang])
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Every printed value: an ESC or a bidirectional override in an inventory name or an old
        # operator's text never reaches a page (a Trojan-source title, a broken PDF line).
        finalize=readable,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(formatters(locale))
    return env


def formatters(locale: Locale) -> dict[str, Callable[..., str]]:
    def pct(value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        # Spanish (es_CO) writes "99,2 %"; English "99.2%".
        sign = " %" if locale.language == "es" else "%"
        return format_percent(value, format="#,##0." + "0" * digits + sign, locale=locale)

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

    return {"pct": pct, "num": num, "month": month, "day": day, "when": when, "minutes": minutes}


def render_html(template: str, lang: str, **context: Any) -> str:
    # ``preliminary``: a month still running (``vigia report month --preview``), marked on every page.
    return environment(lang).get_template(template).render(lang=lang, **{"preliminary": False, **context})


@dataclass(frozen=True)
class MonthPage:
    """What every monthly report page shares: its month, zone, language, header and issue date."""

    year: int
    month: int
    tz: str
    lang: str
    header: Header
    generated: datetime

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def render(self, template: str, figures: Any, **context: Any) -> str:
        zone = ZoneInfo(self.tz)
        return render_html(
            template,
            self.lang,
            header=self.header,
            f=figures,
            month_start=date(self.year, self.month, 1),
            generated=self.generated.astimezone(zone),
            tz=self.tz,
            **context,
        )


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
    import weasyprint  # heavy: only when a PDF is asked for

    pdf = weasyprint.HTML(
        string=html, base_url=str(HERE / "assets") + "/", url_fetcher=_bundled_only_fetcher()
    ).write_pdf()
    assert pdf is not None
    return bytes(pdf)
