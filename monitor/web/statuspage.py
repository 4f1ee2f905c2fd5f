"""The public status page: rendered once per cycle into memory, served from there on a listener
of its own, and (when ``status_page.directory`` is set) written there atomically for nginx.

The listener is public: it answers GET and HEAD on a fixed table of paths (``/``,
``/status.json``, ``/feed.xml``, ``/badge/<zone>.svg``) and nothing else — never /metrics, the API or the health
endpoints. Every answer comes from the cache with an ETag and ``Cache-Control: max-age``; no
cookies. The language is Spanish unless ``?lang=en`` or the browser's Accept-Language asks for
English.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from config import Config, Maintenance, StatusPageSettings
from domain.incidents import Incident
from domain.zone_state import ZoneState
from domain.zones import Zone
from kernel.errors import VigiaError
from monitor.web.coalesce import Coalescer
from monitor.web.http import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_CLIENT, Listener
from monitor.web.messages import Handler, Request, Response, text
from reports import status_feed, status_history, status_json, status_page
from reports.status_parts import Kept, StatusParts, ZoneParts
from store.reader import Reader

log = logging.getLogger(__name__)

LANGS = ("es", "en")
# How often the daily availability bars are computed again from the store.
HISTORY_EVERY = 600.0
# The page is rendered at most this often, whatever the cycles' pace.
RENDER_EVERY = 1.0
# A public page: nothing in it runs, frames it or is fetched from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Page:
    """A page, its type and its ETag. A page assembled from kept rows is joined into one body by
    the first reader (a request, the directory's writer): a render no one reads copies nothing."""

    __slots__ = ("_body", "_pieces", "content_type", "etag")

    def __init__(self, body: bytes | list[bytes], content_type: str, etag: str) -> None:
        self._body: bytes | None = body if isinstance(body, bytes) else None
        self._pieces: list[bytes] | None = None if isinstance(body, bytes) else body
        self.content_type = content_type
        self.etag = etag

    @property
    def body(self) -> bytes:
        body = self._body
        if body is None:
            assert self._pieces is not None
            # Two readers at once both join the same pieces: the same bytes, one kept.
            body = self._body = b"".join(self._pieces)
        return body

    @classmethod
    def of(cls, body: bytes, content_type: str, *, same_as: bytes | None = None) -> Page:
        """A page and its ETag: strong, of the body; weak, of ``same_as``, when the body differs
        from render to render only in what says nothing (the time it was rendered)."""
        if same_as is None:
            return cls(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        return cls(body, content_type, 'W/"' + hashlib.sha256(same_as).hexdigest()[:32] + '"')

    @classmethod
    def assembled(
        cls, segments: status_page.Segments, kept: Kept, content_type: str,
        *, between: bytes = b"", unsaid: bytes | None = None,
    ) -> Page:  # fmt: skip
        """A page from its own text and the zones' kept parts (``status_page.html_segments``,
        ``json_segments``), ``between`` two zones' parts. Its ETag is a hash of the own text and
        each part's digest, in order: the same body gives the same ETag, any byte changed another,
        and a render that changed a handful of zones hashes kilobytes, not megabytes. With
        ``unsaid`` (the time it was made) the ETag is weak and made without it."""
        body: list[bytes] = []
        hashed: list[bytes] = []
        for own, zones in segments:
            body.append(own)
            hashed.append(own if unsaid is None else own.replace(unsaid, b"", 1))
            if between:
                body.append(between.join(map(kept.parts.__getitem__, zones)))
            else:
                body.extend(map(kept.parts.__getitem__, zones))
            hashed.extend(map(kept.digests.__getitem__, zones))
        etag = '"' + hashlib.sha256(b"".join(hashed)).hexdigest()[:32] + '"'
        return cls(body, content_type, etag if unsaid is None else "W/" + etag)


class StatusPage:
    """The rendered pages, by (path, language); swapped whole after each cycle."""

    def __init__(self, settings: StatusPageSettings, tz: ZoneInfo, instance: str = "vigia") -> None:
        self.settings = settings
        self.tz = tz
        self.instance = instance
        self._pages: dict[tuple[str, str], Page] = {}
        self.parts = StatusParts(LANGS)
        self._badges: dict[tuple[str, str], tuple[ZoneParts, Page, Page]] = {}
        self._shown: tuple[str, ...] = ()  # the zones of the last render, in order
        self._written: dict[str, str] = {}  # file name: the ETag of what was written there
        self._lock = threading.Lock()
        self.errors = 0

    def refresh(
        self,
        zones: Iterable[Zone],
        states: Mapping[str, ZoneState],
        now: datetime | None = None,
        incidents: Iterable[Incident] = (),
        windows: Iterable[Maintenance] = (),
        history: Mapping[str, status_page.History] | None = None,
    ) -> None:
        try:
            moment = now or datetime.now(UTC)
            pages, badges, shown = self._render(
                list(zones), states, moment, list(incidents), list(windows), history or {}
            )
        except Exception:  # a bug in rendering: keep serving the last good page, say so, go on
            self.errors += 1
            log.exception("cannot render the status page; serving the previous one")
            return
        with self._lock:
            self._pages, self._badges, self._shown = pages, badges, shown
        if self.settings.directory:
            self._write(self.settings.directory)

    def _render(
        self,
        zones: list[Zone],
        states: Mapping[str, ZoneState],
        now: datetime,
        incidents: list[Incident],
        windows: list[Maintenance],
        history: Mapping[str, status_page.History],
    ) -> tuple[dict[tuple[str, str], Page], dict[tuple[str, str], tuple[ZoneParts, Page, Page]], tuple[str, ...]]:
        zone_view = self.parts.zone_view(now, self.tz)
        view = status_page.view(
            self.settings.title, zones, states, now, self.tz, incidents, windows, history, zone_view
        )
        self.parts.keep_only(view)  # its ids: the zones shown, in order
        first = status_page.first_day(view)
        parts = self.parts.all_of(view.zones, first)
        pages: dict[tuple[str, str], Page] = {}
        # Its weak ETag is of the same JSON without the time it was rendered (the one field that
        # changes when nothing else did).
        data = Page.assembled(status_json.json_segments(view), self.parts.json, "application/json; charset=utf-8",
                              between=status_json.JSON_BETWEEN, unsaid=status_json.stamp(view))  # fmt: skip
        # The badges' pages of the zones that did not change are the last render's (and their hashes).
        ids = self.parts.ids
        if ids == self._shown:
            badges = dict(self._badges)
        else:  # a reload added or removed zones
            shown = set(ids)
            badges = {key: kept for key, kept in self._badges.items() if key[0] in shown}
        for lang in LANGS:
            segments = status_page.html_segments(view, lang, max_age=self.settings.max_age,
                                                 zone_map=self.parts.zone_map(view, lang))  # fmt: skip
            pages[("/", lang)] = Page.assembled(segments, self.parts.rows[lang], "text/html; charset=utf-8")
            pages[("/status.json", lang)] = data
            feed = status_feed.feed(view, lang, self.instance).encode("utf-8")
            pages[("/feed.xml", lang)] = Page.of(feed, "application/atom+xml; charset=utf-8")
            for p in parts:
                # Made from other parts than the zone's now (it changed, or a render that failed
                # midway made its parts): made again. By identity, so no render's failure can leave
                # a badge behind its zone.
                kept = badges.get((p.zone.id, lang))
                if kept is None or kept[0] is not p:
                    badges[(p.zone.id, lang)] = (p, _badge_page(kept and kept[1], p.badges[lang]),
                                                 _badge_page(kept and kept[2], p.availability[lang]))  # fmt: skip
        return pages, badges, ids

    def page(self, path: str, lang: str) -> Page | None:
        if path.startswith("/badge/"):  # a zone's badges, kept apart: 2,000 zones make 8,000 of them
            zone, availability = path[7:].removesuffix(".svg"), path.endswith("/availability.svg")
            with self._lock:
                kept = self._badges.get((zone.removesuffix("/availability") if availability else zone, lang))
            return None if kept is None else kept[2] if availability else kept[1]
        with self._lock:
            return self._pages.get((path, lang))

    def _files(self, lang: str) -> Iterator[tuple[str, Page]]:
        with self._lock:
            pages, badges = self._pages, self._badges
        for (path, page_lang), page in pages.items():
            if page_lang == lang:
                yield ("index.html" if path == "/" else path.lstrip("/")), page
        for (zone, page_lang), (_, badge, availability) in badges.items():
            if page_lang == lang:
                yield f"badge/{zone}.svg", badge
                yield f"badge/{zone}/availability.svg", availability

    def _write(self, directory: str) -> None:
        """The default language's files that changed, each replaced atomically (nginx never serves
        half a file)."""
        try:
            os.makedirs(os.path.join(directory, "badge"), exist_ok=True)
            for name, page in self._files(self.settings.lang):
                if self._written.get(name) == page.etag:
                    continue
                target = os.path.join(directory, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".status-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(page.body)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
                self._written[name] = page.etag
        except OSError as exc:
            self.errors += 1
            log.error("cannot write the status page into %s: %s", directory, exc)


def _badge_page(kept: Page | None, svg: bytes) -> Page:
    """A badge's page: the kept one while its bytes are the very ones it was made of (a zone's parts
    made again keep a badge that says the same), hashed again only when they are not."""
    return kept if kept is not None and kept.body is svg else Page.of(svg, "image/svg+xml")


def language(query: str, accept: str, default: str) -> str:
    """?lang= first, then the first language of Accept-Language vigia has, then the default."""
    asked = parse_qs(query).get("lang", [""])[0]
    if asked in LANGS:
        return asked
    for part in accept.split(","):
        code = part.split(";", 1)[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return default


def etag_matches(etag: str, if_none_match: str) -> bool:
    """RFC 9110's weak comparison, as If-None-Match takes it: ``*`` matches any, and W/ is ignored
    on both sides (a proxy that re-compressed the page sends W/"..." back)."""
    if if_none_match.strip() == "*":
        return True
    mine = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in if_none_match.split(","))


class StatusHandler(Handler):
    """The public listener's answers: the status pages only, from the cache."""

    def __init__(self, pages: StatusPage) -> None:
        self.pages = pages

    def answer(self, request: Request) -> Response:
        settings = self.pages.settings
        lang = language(request.query, request.headers.get("accept-language", ""), settings.lang)
        path = "/" if request.path in ("/", "/index.html") else request.path
        page = self.pages.page(path, lang)
        headers = dict(SECURITY_HEADERS)
        if page is None:
            if self.pages.page("/", lang):
                return text(404, b"not found\n", headers)
            return text(503, b"no probe cycle has finished yet\n", headers)
        headers["ETag"] = page.etag
        headers["Cache-Control"] = f"public, max-age={int(settings.max_age)}"
        headers["Vary"] = "Accept-Language"
        if etag_matches(page.etag, request.headers.get("if-none-match", "")):
            return Response(304, b"", page.content_type, headers)
        return Response(200, page.body, page.content_type, headers)


class StatusServer(Listener):
    """The public listener: the status pages only, from the cache."""

    name = "status"

    def __init__(
        self,
        listen: str,
        pages: StatusPage,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    ) -> None:
        self.pages = pages
        super().__init__(listen, StatusHandler(pages), max_connections=max_connections, max_per_client=max_per_client)


class PublicStatus:
    """The daemon's status page: its cache, its listener, and a renderer of its own that a cycle
    only asks (a change of ``status_page`` takes a restart).

    Rendered off the cycle's thread and at most once a second (RENDER_EVERY): a cycle's end never
    waits for the page, and a burst of changes (agents' batches, a history read) makes one render,
    of the zones that changed (reports.status_parts)."""

    def __init__(
        self,
        conf: Callable[[], Config],
        states: Callable[[], Mapping[str, ZoneState]],
        incidents: Callable[[], list[Incident]],
        windows: Callable[[], tuple[Maintenance, ...]],
        reader: Callable[[], Reader] | None = None,
    ) -> None:
        first = conf()  # the zones shown follow reloads; the listener and its settings take a restart
        assert first.status_page is not None
        self.conf, self.states, self.incidents, self.windows = conf, states, incidents, windows
        self.reader = reader
        self.history: dict[str, status_page.History] = {}
        self.daily = status_history.DailyHistory()  # past days kept: each read takes today only
        self._history_at = float("-inf")
        self._reading = threading.Lock()
        self.page = StatusPage(first.status_page, first.timezone, first.instance)
        self.server: StatusServer | None = None
        self._renderer = Coalescer("status-render", self.render, RENDER_EVERY)

    def start(self) -> None:
        settings = self.page.settings
        self.render()  # the first page before the listener answers
        try:
            self.server = StatusServer(settings.listen, self.page, max_connections=settings.max_connections,
                                       max_per_client=settings.max_connections_per_client)  # fmt: skip
        except OSError as exc:
            raise VigiaError(f"cannot listen on {settings.listen} (status_page): {exc.strerror or exc}") from None
        self.server.start()
        self._renderer.start()
        log.info("serving the public status page on port %d", self.server.port)

    def refresh(self) -> None:
        """Ask for a render (after a cycle): returns at once."""
        self._renderer.ask()

    def render(self) -> None:
        conf = self.conf()
        self._read_history(conf)
        self.page.refresh(
            conf.zones, self.states(), incidents=self.incidents(), windows=self.windows(), history=self.history
        )

    def _read_history(self, conf: Config) -> None:
        """Start reading the zones' daily availability again every HISTORY_EVERY (the days change
        slowly), in a thread of its own: 2,000 zones take seconds, which no cycle waits for. The
        page shows the last figures meanwhile; the store away, they stay."""
        now = time.monotonic()
        if self.reader is None or now - self._history_at < HISTORY_EVERY or self._reading.locked():
            return
        self._history_at = now
        reader = self.reader
        threading.Thread(target=self._history, args=(reader, conf), name="status-history", daemon=True).start()

    def _history(self, reader: Callable[[], Reader], conf: Config) -> None:
        with self._reading:
            try:
                self.history = self.daily.read(reader(), conf.zones, datetime.now(UTC), conf.timezone)
            except Exception as exc:
                log.warning("status page: cannot read the zones' availability history: %s", exc)
                return
        self.refresh()  # with the new figures (no second read: the last one has just started)

    def stop(self) -> None:
        self._renderer.stop()
        if self.server is not None:
            self.server.stop()
