"""Prometheus exposition: the collectors' families rendered once per cycle, served from a cache.

Scrapes never render anything: ``Exposition.refresh()`` renders the text after each
probe cycle and every scrape is served from that cache, so a busy Prometheus (or several)
costs the daemon almost nothing; the gzip form is made by the first scrape that asks for it.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from monitor.web.collectors import COLLECTORS, View
from monitor.web.textformat import TextRenderer

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Exposition:
    """The rendered /metrics body, refreshed once per cycle and shared by every scrape."""

    def __init__(self, view: View, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        for concern in COLLECTORS:
            self.registry.register(concern(view))  # describe(): a name two collectors claim fails here
        if process_metrics:
            ProcessCollector(registry=self.registry)
        self._renderer = TextRenderer()
        self._lock = threading.Lock()
        self._body = b""
        self._gzip: bytes | None = b""  # the body compressed, made by the first scrape that asks
        self._packing = threading.Lock()
        self._rendering = threading.Lock()
        self.rendered_at = 0.0
        self.render_seconds = 0.0
        self.errors = 0  # renders that failed (a collector bug); the watchdog notices a stale body

    def refresh(self) -> None:
        # Every interval group's cycle, the drills, reloads and jobs refresh, each on its own thread.
        # One render at a time: the renderer keeps each line's value and text, set one after the
        # other, and two renders at once could serve a new value's old text; an older render could
        # also end last and be kept. A refresh waiting here renders after the one under way, so the
        # body kept is made after the last change. Scrapes never wait for it (they take ``_lock``).
        with self._rendering:
            t0 = time.perf_counter()
            try:
                body = self._renderer.render(self.registry.collect())
            except Exception:  # a bug in a collector: keep serving the last good body, say so, go on
                self.errors += 1
                log.exception("cannot render /metrics; serving the previous exposition")
                return
            with self._lock:
                self._body, self._gzip = body, None
                self.rendered_at = time.time()
                self.render_seconds = time.perf_counter() - t0

    def body(self, *, gzipped: bool = False) -> bytes:
        with self._lock:
            body, packed = self._body, self._gzip
        if not gzipped:
            return body
        if packed is not None:
            return packed
        # Compressed when a scrape asks, once per body: bodies no gzip scrape read (cycles faster
        # than scrapes) cost nothing. Scrapes that ask together wait for one compression, and one
        # that waited through a refresh gets the newest body (a stale one would be compressed
        # again by every scrape that had read it).
        with self._packing:
            with self._lock:
                body, packed = self._body, self._gzip
            if packed is not None:
                return packed
            # Level 1: half level 5's CPU on an exposition's repetitive text, for ~9 % more bytes.
            packed = gzip.compress(body, compresslevel=1)
            with self._lock:
                if self._body is body:
                    self._gzip = packed
        return packed
