"""Text printed into the status page's SVGs and its Atom feed."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape as _escape

from kernel.text import xml_safe

# Bidirectional overrides and line separators: allowed in XML, but a Trojan-source name in an SVG
# printed into the page as markup would reorder what the citizen reads.
_NO_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029])
# Text that escaping leaves as it is (ids, names, figures: nearly all): none of &, <, >, of what XML
# forbids (kernel.text.xml_safe) or of _NO_BIDI. Returned after one scan, not three passes.
_AS_IS = re.compile(r"[^&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff\u2028\u2029\u202a-\u202e\u2066-\u2069]*")


def escape(text: str, entities: dict[str, str] | None = None) -> str:
    """Text for the feed and the SVGs: XML-escaped, without what XML forbids (an ESC in an
    incident's title made the feed invalid, and feed readers drop a whole invalid feed) nor a
    bidirectional override (the SVGs are printed into the page as markup, unfiltered)."""
    if _AS_IS.fullmatch(text) and not (entities and any(k in text for k in entities)):
        return text
    return _escape(xml_safe(text).translate(_NO_BIDI), entities or {})
