"""The catalogue: English message ids, their es_CO words in ``render/locale``.

Light on purpose (Babel is loaded by the first lookup, Jinja2 never), so a domain rule that speaks,
a schedule in words or a cause's name, uses this one catalogue without loading the engine.
``msgid`` marks a word written in code as a message id: the catalogue test finds it there.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel.support import NullTranslations

HERE = Path(__file__).parent
LOCALES = {"es": "es_CO", "en": "en"}


def msgid(text: str) -> str:
    """A message id written in code (a word table's entry): translated where it is shown."""
    return text


@functools.lru_cache(maxsize=4)
def translations(lang: str) -> NullTranslations:
    """The catalogue for ``lang``, compiled from its .po file in memory (no binary files in the tree)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

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


def gettext(lang: str) -> Callable[[str], str]:
    """The catalogue's gettext for ``lang``: words made in code (a finding, a schedule in words)."""
    return translations(lang).gettext
