"""The status page's Atom feed of incidents: open ones, and those closed in the last weeks."""

from __future__ import annotations

from domain.incidents import CAUSES
from render.catalogue import gettext
from reports.status_page import StatusView
from reports.xmltext import escape


def feed(v: StatusView, lang: str, instance: str) -> str:
    """An Atom feed of the incidents (open, and closed in the last weeks), newest first."""
    words = gettext(lang)
    entries = []
    # The feed changed when an incident last did (Atom's meaning of updated), not at every render:
    # its bytes, and so its ETag, stay the same while nothing happens. Without incidents, the day.
    newest = [max([i.opened, *(u.at for u in i.updates), *([i.closed] if i.closed else [])]) for i in v.incidents]
    updated = max(newest) if newest else v.generated[:10] + "T00:00:00" + v.generated[19:]
    for i in v.incidents:
        last = i.updates[-1].at if i.updates else i.opened
        lines = [f"{words(CAUSES[i.cause])} — {', '.join(i.zones)}" + (f" ({i.ticket})" if i.ticket else "")]
        lines += [f"{u.at[:16].replace('T', ' ')}: {u.text}" for u in i.updates]
        state = words("closed") if i.closed else words("open")
        entries.append(
            "<entry>"
            f"<id>urn:vigia:incident:{escape(instance)}:{i.id}</id>"
            f"<title>{escape(f'[{state}] {i.title}')}</title>"
            f"<updated>{escape(last)}</updated><published>{escape(i.opened)}</published>"
            f'<content type="text">{escape(chr(10).join(lines))}</content>'
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">'
        f"<id>urn:vigia:status:{escape(instance)}</id><title>{escape(v.title)}</title>"
        f"<updated>{escape(updated)}</updated><author><name>{escape(v.title)}</name></author>"
        + "".join(entries)
        + "</feed>"
    )
