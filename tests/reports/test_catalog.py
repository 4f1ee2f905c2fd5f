"""Every message the report templates and renderers ask for has a Spanish translation: a report in
es_CO never shows an English phrase because someone forgot the catalog."""

from __future__ import annotations

from pathlib import Path

import jinja2.ext
from babel.messages.extract import extract
from babel.messages.pofile import read_po

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _ids() -> set[str]:
    out: set[str] = set()
    for template in sorted((REPORTS / "templates").glob("*.j2")):
        with open(template, "rb") as fh:
            for _line, msg, _comments, _ctx in extract(
                jinja2.ext.babel_extract, fh, keywords={"_": None}, options={"extensions": "jinja2.ext.i18n"}
            ):
                out.add(msg if isinstance(msg, str) else msg[0])
    for module in sorted(REPORTS.glob("*.py")):
        with open(module, "rb") as fh:
            for _line, msg, _comments, _ctx in extract("python", fh, keywords={"gettext": None}):
                out.add(msg if isinstance(msg, str) else msg[0])
    return out


def test_every_report_message_has_a_spanish_translation() -> None:
    with open(REPORTS / "locale" / "es_CO" / "LC_MESSAGES" / "vigia.po", "rb") as fh:
        catalog = read_po(fh, locale="es_CO")
    translated = {m.id for m in catalog if m.id and m.string}
    ids = _ids()
    assert len(ids) > 150  # the extraction found the templates' messages
    assert sorted(ids - translated) == []
