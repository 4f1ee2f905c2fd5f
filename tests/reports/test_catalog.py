"""Every message the templates and the code ask for has a Spanish translation: a report, a drill
report, the status page or a schedule in words in es_CO never shows an English phrase because
someone forgot the catalogue (render/locale)."""

from __future__ import annotations

from pathlib import Path

import jinja2.ext
from babel.messages.extract import extract
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ("render", "reports", "continuity")
# Code that makes words: gettext(...) and a catalogue's ``words``/``tr.gettext`` calls, and
# msgid(...) marking a word table's entries.
CODE = ("render", "reports", "continuity", "domain", "monitor/cli")
KEYWORDS = {"gettext": None, "msgid": None, "words": None}


def _ids() -> set[str]:
    out: set[str] = set()
    for package in TEMPLATES:
        for template in sorted((ROOT / package / "templates").glob("*.j2")):
            with open(template, "rb") as fh:
                for _line, msg, _comments, _ctx in extract(
                    jinja2.ext.babel_extract, fh, keywords={"_": None}, options={"extensions": "jinja2.ext.i18n"}
                ):
                    out.add(msg if isinstance(msg, str) else msg[0])
    for package in CODE:
        for module in sorted((ROOT / package).glob("*.py")):
            with open(module, "rb") as fh:
                for _line, msg, _comments, _ctx in extract("python", fh, keywords=KEYWORDS):
                    out.add(msg if isinstance(msg, str) else msg[0])
    return out


def test_every_message_has_a_spanish_translation() -> None:
    with open(ROOT / "render" / "locale" / "es_CO" / "LC_MESSAGES" / "vigia.po", "rb") as fh:
        catalog = read_po(fh, locale="es_CO")
    translated = {m.id for m in catalog if m.id}
    assert all(m.string for m in catalog if m.id), "an entry without its Spanish words"
    ids = _ids()
    assert len(ids) > 250  # the extraction found the templates' and the code's messages
    for expected in ("Continuity plan test report", "Monday", "power cut", "operating"):
        assert expected in ids, f"{expected!r}: a template or a word table the extraction missed"
    assert sorted(ids - translated) == []
