"""The alerts' runbooks, served by vigia's own listener at /runbooks/<Alert>.md as HTML pages.

A NOC desk opens an alert's runbook_url from Alertmanager or Grafana on its own machine: a
``file://`` path on the server opens nothing there. The alert rules point at this listener
(deploy/install.sh rewrites the base to the server's name, or to the office's Git server).

The pages are the Markdown files under docs/runbooks (installed to /usr/share/doc/vigia/runbooks),
rendered by markdown-it (CommonMark, raw HTML in a file left as text), read when first asked and
again only when the file changes. A name is an alert's (``Vigia`` and letters): nothing else on
the disk is reachable.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PREFIX = "/runbooks"
# The source tree's copy first (a checkout or an editable install), then the installed one.
DIRS = (Path(__file__).resolve().parents[2] / "docs" / "runbooks", Path("/usr/share/doc/vigia/runbooks"))
_NAME = re.compile(r"^(Vigia[A-Za-z0-9]{1,60})(?:\.md)?$")
_PAGE = """<!doctype html><html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
code,pre{{background:#f4f4f4}}pre{{padding:.5rem;overflow-x:auto}}</style></head>
<body>{body}</body></html>
"""


class Runbooks:
    def __init__(self, dirs: Sequence[Path] = DIRS) -> None:
        self.folder = next((d for d in dirs if d.is_dir()), None)
        self._md: Any = None  # markdown-it, loaded with the first page asked for
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        if self.folder is None:
            return []
        return sorted(p.stem for p in self.folder.glob("Vigia*.md"))

    def page(self, path: str) -> bytes | None:
        """The HTML of ``path`` (/runbooks/ for the index, /runbooks/<Alert>[.md]); None: no such page."""
        rest = path.removeprefix(PREFIX).lstrip("/")
        if rest in ("", "index.html"):
            items = "".join(f'<li><a href="{PREFIX}/{n}.md">{n}</a></li>' for n in self.names())
            return _PAGE.format(title="Runbooks — vigia", body=f"<h1>Runbooks</h1><ul>{items}</ul>").encode()
        m = _NAME.match(rest)
        if m is None or self.folder is None:
            return None
        name = m.group(1)
        source = self.folder / f"{name}.md"
        try:
            mtime = source.stat().st_mtime
        except OSError:
            return None
        with self._lock:
            held = self._cache.get(name)
        if held is not None and held[0] == mtime:
            return held[1]
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if self._md is None:
            from markdown_it import MarkdownIt

            self._md = MarkdownIt("commonmark", {"html": False})
        body = _PAGE.format(title=html.escape(f"{name} — vigia"), body=self._md.render(text)).encode()
        with self._lock:
            self._cache[name] = (mtime, body)
        return body
