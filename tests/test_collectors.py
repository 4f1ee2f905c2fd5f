"""One collector per concern: describe() names every family collect() yields, so a clash fails at start."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.web.collectors import COLLECTORS, Concern
from tests.vigiaproc import daemon_in_process

CONFIG = """
defaults: {interval: 1s, timeout: 500ms}
targets:
  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
  - {id: web, probe: http, http: {url: "http://127.0.0.1:9/"}}
  - {id: this-host, probe: host}
zones:
  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5, portal_url: "http://127.0.0.1:9/"}
"""


def test_every_family_a_collector_yields_is_described(tmp_path: Path) -> None:
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        daemon.run_cycle(1.0)
        for concern in COLLECTORS:
            collector = concern(daemon.live)
            described = {m.name for m in collector.describe()}
            yielded = {m.name for m in collector.collect()}
            assert yielded <= described, (concern.__name__, yielded - described)
        assert "vigia_http_duration_seconds" in {m.name for m in COLLECTORS[1](daemon.live).collect()}


class Intruder(Concern):
    """A collector that claims a name another concern owns."""

    def families(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("vigia_zone_up", "claimed twice", value=1)

    def describe(self) -> Iterator[Metric]:
        yield from self.families()


def test_a_name_claimed_twice_fails_when_the_registry_is_built(tmp_path: Path) -> None:
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        registry = CollectorRegistry(auto_describe=False)
        for concern in COLLECTORS:
            registry.register(concern(daemon.live))
        with pytest.raises(ValueError, match="vigia_zone_up"):
            registry.register(Intruder(daemon.live))


def test_a_gzip_scrape_reads_the_body_of_its_cycle_compressed(tmp_path: Path) -> None:
    """The gzip form is made by the first scrape that asks for it, once per body: it decompresses
    to the plain body of that cycle, a second scrape gets the same bytes, and a new cycle's body is
    compressed anew."""
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        exposition = daemon.exposition
        assert exposition.body(gzipped=True) == b""  # before the first cycle: the endpoint says 503
        daemon.run_cycle(1.0)
        exposition.refresh()
        plain, packed = exposition.body(), exposition.body(gzipped=True)
        assert gzip.decompress(packed) == plain and b"vigia_zone_up" in plain
        assert exposition.body(gzipped=True) is packed
        daemon.run_cycle(1.0)
        exposition.refresh()
        assert exposition.body() != plain  # cycles counted, durations measured anew
        assert gzip.decompress(exposition.body(gzipped=True)) == exposition.body()


def test_the_inventory_kept_between_cycles_follows_a_reload(tmp_path: Path) -> None:
    # The target inventory is rendered once per configuration, not per cycle: a reload that adds a
    # target and changes another's interval and description must show in the next /metrics.
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        daemon.run_cycle(1.0)
        daemon.exposition.refresh()
        before = daemon.exposition.body()
        assert b'vigia_target_interval_seconds{target="closed"} 1.0' in before
        assert b'target="later"' not in before
        config = tmp_path / "c.yml"
        config.write_text(config.read_text().replace(
            "  - {id: closed, probe: tcp,",
            "  - {id: later, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
            "  - {id: closed, description: Cerrado, interval: 2s, probe: tcp,",
        ))  # fmt: skip
        assert daemon.reload()
        daemon.run_cycle(1.0)
        daemon.exposition.refresh()
        after = daemon.exposition.body()
        assert b'vigia_target_interval_seconds{target="closed"} 2.0' in after
        assert b'description="Cerrado",group=' in after
        assert b'vigia_target_info{description="",group="datacenter",probe="tcp",target="later",zone=""} 1.0' in after


def test_gzip_scrapes_at_once_across_cycles_compress_each_body_once(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Several Prometheus servers scraping with gzip while cycles end: each answer decompresses to
    a body the daemon rendered, and no body is compressed twice (the scrapes wait for one)."""
    import threading

    compressed: list[bytes] = []
    real = gzip.compress

    def counted(data: bytes, compresslevel: int = 9) -> bytes:
        compressed.append(data)
        return real(data, compresslevel=compresslevel)

    monkeypatch.setattr("monitor.web.exposition.gzip.compress", counted)
    with daemon_in_process(CONFIG, tmp_path) as daemon:
        exposition, rendered, answers = daemon.exposition, [], []
        stop = threading.Event()
        render = exposition._renderer.render  # every body a refresh makes, whoever asks for it

        def kept_render(families):  # type: ignore[no-untyped-def]
            rendered.append(render(families))
            return rendered[-1]

        monkeypatch.setattr(exposition._renderer, "render", kept_render)

        def scrape() -> None:
            deadline = time.monotonic() + 60  # bounded; ends when the cycles do
            while not stop.is_set() and time.monotonic() < deadline:
                packed = exposition.body(gzipped=True)
                if packed:
                    answers.append(packed)
                time.sleep(0.001)

        scrapers = [threading.Thread(target=scrape) for _ in range(8)]
        for scraper in scrapers:
            scraper.start()
        for _ in range(5):
            daemon.run_cycle(1.0)
            exposition.refresh()
        stop.set()
        for scraper in scrapers:
            scraper.join(timeout=30)
        assert answers and {gzip.decompress(a) for a in set(answers)} <= set(rendered)
        assert len(compressed) == len({id(b) for b in compressed}) <= len(rendered)


FLIPPING = """
defaults: {interval: 1s, timeout: 500ms, failures_before_down: 1, successes_before_up: 1}
targets:
  - {id: steady, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
  - {id: flips, probe: tcp, tcp: {host: 127.0.0.1, port: PORT}}
zones:
  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5, portal_url: "http://127.0.0.1:PORT/"}
"""


def test_families_kept_between_cycles_render_what_a_fresh_exposition_renders(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The states, since and transitions of targets and zones are made again only when one changed:
    cycles that change nothing render none of them again, and after every cycle, while a target and
    a zone go down and come back, the daemon's exposition is byte for byte what an exposition made
    afresh (no kept family, no kept line) renders from the same view."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from monitor.web.exposition import Exposition
    from monitor.web.textformat import TextRenderer

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    def serve(port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), Portal)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    server: ThreadingHTTPServer | None = serve(0)
    assert server is not None
    port = server.server_address[1]
    rendered: list[str] = []
    lines = TextRenderer._series_lines

    def counted(self, metric, name, out):  # type: ignore[no-untyped-def]
        rendered.append(name)
        lines(self, metric, name, out)

    monkeypatch.setattr(TextRenderer, "_series_lines", counted)
    standing = {"vigia_target_state", "vigia_target_up", "vigia_target_transitions_total", "vigia_zone_state"}
    try:
        with daemon_in_process(FLIPPING.replace("PORT", str(port)), tmp_path) as daemon:
            kept = Exposition(daemon.live, process_metrics=False)
            for step, up in enumerate([True, True, True, False, False, True, True]):
                if up and server is None:
                    server = serve(port)
                elif not up and server is not None:  # connections refused: the target and the zone go down
                    server.shutdown()
                    server.server_close()
                    server = None
                daemon.run_cycle(1.0)
                rendered.clear()
                kept.refresh()
                again = standing & set(rendered)
                fresh = Exposition(daemon.live, process_metrics=False)
                assert kept.body() == fresh._renderer.render(fresh.registry.collect()), f"cycle {step}"
                changed = step in (0, 3, 5)  # the first cycle, the refusal, the return
                assert again == (standing if changed else set()), (step, again)
            body = kept.body().decode()
            assert 'vigia_target_transitions_total{target="flips"} 3.0' in body  # unknown, up, down, up
            assert 'vigia_target_up{target="flips"} 1.0' in body
            assert 'vigia_zone_state{state="up",zone="ZD-01"} 1.0' in body
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def test_refreshes_from_several_threads_render_one_at_a_time_the_last_state_last(tmp_path: Path) -> None:
    """/metrics is refreshed by every interval group's cycle, the drills, reloads and jobs, on their
    own threads. The renderer keeps lines between renders (a value and its text, set one after the
    other): two renders at once could serve one value's old text. So renders take turns, and the
    body left is one made after the last change."""
    import threading

    class Slow:
        """A collector slow enough for renders to overlap, counting how many run at once."""

        def __init__(self) -> None:
            self.now = self.most = 0
            self.value = 0.0
            self.lock = threading.Lock()

        def collect(self) -> Iterator[Metric]:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            value = self.value
            time.sleep(0.005)
            with self.lock:
                self.now -= 1
            yield GaugeMetricFamily("test_slow_value", "A value set by the test.", value=value)

    with daemon_in_process(CONFIG, tmp_path) as daemon:
        exposition = daemon.exposition
        slow = Slow()
        exposition.registry.register(slow)
        daemon.run_cycle(1.0)

        def refresher(k: int) -> None:
            for i in range(20):
                slow.value = float(k * 100 + i)
                exposition.refresh()

        threads = [threading.Thread(target=refresher, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        slow.value = 999.0
        exposition.refresh()
    assert slow.most == 1, slow.most
    assert b"test_slow_value 999.0" in exposition.body()
