"""The public status page: states in words, allow-listed fields, escaping, contrast, and its own
listener (cache, ETag, languages, nothing else served), then the real daemon serving it."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import config as cfg
from domain.zone_state import ZoneState, ZoneStatus
from monitor.cli import main
from monitor.web.statuspage import Page, StatusPage, StatusServer, language
from reports import status_history, status_json, status_page
from store.db import Store
from tests.conftest import free_port
from tests.reports.test_opendata import filled, t
from tests.vigiaproc import VigiaProcess

TZ = ZoneInfo("America/Bogota")
__all__ = ["filled"]  # a fixture, imported to be used here
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
CONFIG = """timezone: America/Bogota
state_dir: {state}
defaults: {interval: 1s, timeout: 500ms, failures_before_down: 1}
status_page: {listen: "127.0.0.1:%(status)d", directory: %(directory)s}
zones:
  - id: ZD-01
    name: "Biblioteca <script>alert(1)</script>"
    barrio: Manga
    localidad: Histórica y del Caribe Norte
    lat: 10.41
    lon: -75.53
    gateway: 127.0.0.1
    portal_url: "http://127.0.0.1:%(portal)d/"
  - id: ZD-02
    name: "Parque {{ 7*7 }}"
    barrio: El Pozón
    localidad: De la Virgen y Turística
    lat: 10.40
    lon: -75.49
    gateway: 127.0.0.1
    portal_url: "http://127.0.0.1:9/"
  - id: ZD-03
    name: Plaza
    barrio: Bocagrande
    localidad: Histórica y del Caribe Norte
    lat: 10.39
    lon: -75.55
    gateway: 127.0.0.1
    portal_url: "http://127.0.0.1:%(portal)d/"
maintenance:
  - {id: obra, zones: [ZD-03], cron: "0 0 * * *", duration: 24h, reason: "Cambio de equipo"}
"""


ZD04 = (
    "  - {id: ZD-04, name: Muelle, barrio: Centro, localidad: Histórica y del Caribe Norte, lat: 10.42, lon: -75.54}\n"
)


def zones_and_states(tmp_path: Path) -> tuple[cfg.Config, dict[str, ZoneState]]:
    text = (CONFIG % {"status": 1, "directory": "null", "portal": 8}).replace("{state}", str(tmp_path))
    path = tmp_path / "vigia.yml"
    path.write_text(text.replace("maintenance:\n", ZD04 + "maintenance:\n", 1))
    conf = cfg.parse(str(path))
    states = {}
    for zone_id, status in (("ZD-01", ZoneStatus.UP), ("ZD-02", ZoneStatus.DOWN), ("ZD-03", ZoneStatus.MAINTENANCE)):
        st = ZoneState(zone_id, 3, 1)
        st.status, st.since = status, NOW - timedelta(hours=2)
        states[zone_id] = st
    return conf, states  # ZD-04: never judged


def luminance(colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_every_state_colour_meets_wcag_aa_contrast() -> None:
    for state, s in status_page.STATES.items():
        hi, lo = sorted((luminance(s.fg), luminance(s.bg)), reverse=True)
        assert (hi + 0.05) / (lo + 0.05) >= 4.5, state


def test_states_in_words_no_data_is_never_down_and_only_allowed_fields(tmp_path: Path) -> None:
    conf, states = zones_and_states(tmp_path)
    v = status_page.view("Estado", conf.zones, states, NOW, TZ)
    assert [(z.id, z.state) for z in v.zones] == [
        ("ZD-01", "up"), ("ZD-02", "down"), ("ZD-03", "maintenance"), ("ZD-04", "no_data"),
    ]  # fmt: skip
    data = json.loads(status_json.to_json(v))
    assert set(data["zones"][0]) == {
        "id",
        "name",
        "barrio",
        "localidad",
        "lat",
        "lon",
        "state",
        "since",
        "days",
        "last_30",
        "closed_today",
        "cause",
    }
    assert data["counts"] == {"up": 1, "degraded": 0, "down": 1, "maintenance": 1, "no_data": 1}
    text = json.dumps(data)
    for secret in ("127.0.0.1", "http://", "ZD-01:gateway", "portal"):
        assert secret not in text
    page = status_page.html(v, "es", max_age=30)
    words = {
        m[0]: m[1]
        for m in re.findall(
            r'data-zone="([^"]+)" data-state="[^"]+"><td>.*?<span class="state"[^>]*>([^<]+)</span>', page
        )
    }
    assert words == {"ZD-01": "operando", "ZD-02": "caída", "ZD-03": "en mantenimiento", "ZD-04": "sin datos"}
    english = status_page.html(v, "en", max_age=30)
    assert 'lang="en"' in english and ">in maintenance<" in english and ">no data<" in english
    assert "Histórica y del Caribe Norte" in page and "2026-03-03 08:00" in page  # since, in Bogotá time


def test_operator_texts_are_text_in_the_page_the_badge_and_the_map(tmp_path: Path) -> None:
    conf, states = zones_and_states(tmp_path)
    v = status_page.view("Estado <b>", conf.zones, states, NOW, TZ)
    page = status_page.html(v, "es", max_age=30)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Parque {{ 7*7 }}" in page and "49" not in page  # a template in a name is not evaluated
    assert "Estado &lt;b&gt;" in page
    assert "<script" not in status_page.badge(v.zones[0], "es")


def test_the_public_listener_serves_the_cache_and_nothing_else(tmp_path: Path) -> None:
    conf, states = zones_and_states(tmp_path)
    settings = cfg.StatusPageSettings(listen="127.0.0.1:0", directory=str(tmp_path / "www"), max_age="45s")
    pages = StatusPage(settings, TZ)
    pages.refresh(conf.zones, states, NOW)
    server = StatusServer("127.0.0.1:0", pages)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(base + "/") as resp:
            body, headers = resp.read().decode(), resp.headers
        assert 'lang="es"' in body and ">caída<" in body
        assert headers["Cache-Control"] == "public, max-age=45" and "Set-Cookie" not in headers
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        request = urllib.request.Request(base + "/", headers={"If-None-Match": headers["ETag"]})
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(request)
        assert not_modified.value.code == 304
        english = urllib.request.Request(base + "/", headers={"Accept-Language": "en-US,en;q=0.8"})
        with urllib.request.urlopen(english) as resp:
            assert 'lang="en"' in resp.read().decode()
        with urllib.request.urlopen(base + "/?lang=en") as resp:
            assert ">down<" in resp.read().decode()
        with urllib.request.urlopen(base + "/badge/ZD-02.svg") as resp:
            assert resp.headers["Content-Type"] == "image/svg+xml" and "caída" in resp.read().decode()
        with urllib.request.urlopen(base + "/status.json") as resp:
            assert json.loads(resp.read())["counts"]["down"] == 1
        for path in ("/metrics", "/-/healthy", "/api/v1/zones", "/badge/ZD-99.svg", "/../vigia.yml"):
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(base + path)
            assert missing.value.code == 404, path
        with pytest.raises(urllib.error.HTTPError) as post:
            urllib.request.urlopen(urllib.request.Request(base + "/", data=b"x", method="POST"))
        assert post.value.code == 405
    finally:
        server.stop()
    written = tmp_path / "www"
    assert ">caída<" in (written / "index.html").read_text()
    assert (written / "status.json").exists() and (written / "badge" / "ZD-01.svg").exists()
    assert not list(written.glob(".status-*"))  # no temporary file left behind


def test_accept_language_and_query_choose_the_language() -> None:
    assert language("", "", "es") == "es"
    assert language("lang=en", "es-CO", "es") == "en"
    assert language("", "fr-FR, en;q=0.5", "es") == "en"
    assert language("lang=xx", "de", "es") == "es"


def test_the_daemon_serves_its_zones_on_the_status_listener(tmp_path: Path) -> None:
    from tests.servers import http_server

    with http_server({"/": lambda _h: (200, {}, b"portal")}) as portal:
        status = free_port()
        text = CONFIG % {"status": status, "directory": str(tmp_path / "www"), "portal": portal.port}
        vigia = VigiaProcess(text, tmp_path)
        opened = ["incident", "open", "--zones", "ZD-02", "--title", "Sin energía", "--cause", "energia"]
        assert main([*opened, "--config", str(vigia.config)]) == 0  # before the daemon starts: read at start
        vigia.start()
        try:
            vigia.wait_ready(timeout=30)
            assert vigia.value("vigia_incidents_open", cause="energia") == 1.0
            assert vigia.value("vigia_incidents_open", cause="isp") == 0.0
            # Each open incident on each of its zones, for Grafana's annotations.
            each = {"incident": "1", "zone": "ZD-02", "cause": "energia", "title": "Sin energía"}
            assert vigia.value("vigia_incident_open", **each) == 1.0
            base = f"http://127.0.0.1:{status}"
            end = time.monotonic() + 20
            states: dict[str, str] = {}
            while time.monotonic() < end:
                with urllib.request.urlopen(base + "/status.json") as resp:
                    states = {z["id"]: z["state"] for z in json.loads(resp.read())["zones"]}
                if states == {"ZD-01": "up", "ZD-02": "down", "ZD-03": "maintenance"}:
                    break
                time.sleep(0.3)
            assert states == {"ZD-01": "up", "ZD-02": "down", "ZD-03": "maintenance"}
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(base + "/metrics")
            assert missing.value.code == 404
            with urllib.request.urlopen(base + "/badge/ZD-01/availability.svg") as resp:
                assert "30 días" in resp.read().decode()
            page = (tmp_path / "www" / "index.html").read_text()
            assert "ZD-02" in page and "Sin energía" in page and "corte de energía" in page
        finally:
            vigia.stop()


def test_the_status_page_may_not_share_the_metrics_listener(tmp_path: Path) -> None:
    from kernel.errors import ConfigError

    path = tmp_path / "vigia.yml"
    path.write_text("web: {listen: '127.0.0.1:9842'}\nstatus_page:\n  listen: '127.0.0.1:9842'\n")
    with pytest.raises(ConfigError) as info:
        cfg.parse(str(path))
    [problem] = info.value.problems
    assert (problem.line, problem.key) == (3, "status_page.listen")
    assert "listener of its own" in problem.message


@pytest.mark.scale
def test_the_status_page_under_load_leaves_the_scrapes_fast(tmp_path: Path) -> None:
    """wrk (Debian's) hammers the public listener for 8 s, keep-alive, as fast as it can (well
    above 1,000 requests a second) while Prometheus scrapes /metrics every second: no error on
    either side, every scrape up and fast."""
    from tests.conftest import need_binary
    from tests.servers import http_server, prometheus_scraping, scrape_record

    wrk = need_binary("wrk", "wrk")
    with http_server({"/": lambda _h: (200, {}, b"portal")}) as portal:
        status = free_port()
        vigia = VigiaProcess(CONFIG % {"status": status, "directory": "null", "portal": portal.port}, tmp_path)
        vigia.start()
        try:
            with prometheus_scraping(vigia, tmp_path) as prom:
                done = subprocess.run(
                    [wrk, "-t2", "-c16", "-d8s", "--latency", f"http://127.0.0.1:{status}/"],
                    capture_output=True, text=True, timeout=60,
                )  # fmt: skip
                out = done.stdout
                assert done.returncode == 0, done.stderr
                assert "Non-2xx" not in out and "Socket errors" not in out, out
                rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
                assert rate >= 1000, out
                time.sleep(2)
                up, slowest, count = scrape_record(prom, "12s")
                assert up == 1 and count >= 9
                assert slowest < 0.5, slowest
        finally:
            vigia.stop()


def test_maintenance_ahead_names_zones_only_and_looks_a_week_ahead(tmp_path: Path) -> None:
    conf, states = zones_and_states(tmp_path)
    v = status_page.view("Estado", conf.zones, states, NOW, TZ, windows=conf.maintenance)
    data = json.loads(status_json.to_json(v))
    assert data["maintenance"] == [
        {"zones": ["ZD-03"], "start": "2026-03-03T00:00-05:00", "end": "2026-03-04T00:00-05:00",
         "reason": "Cambio de equipo"},
    ]  # fmt: skip
    assert ":gateway" not in json.dumps(data) and ":portal" not in json.dumps(data)
    page = status_page.html(v, "es", max_age=30)
    assert "Mantenimientos programados" in page and "Cambio de equipo" in page
    # A weekly window (Sundays 02:00, 3 h): its next occurrence shows; one a month away does not.
    from kernel.cron import crontab_trigger

    weekly = cfg.Maintenance("dom", frozenset({"ZD-01", "ZD-01:gateway"}), "Reinicio semanal",
                             crontab_trigger("0 2 * * 0", TZ), 3 * 3600.0, None, None)  # fmt: skip
    later = cfg.Maintenance("obra2", frozenset({"ZD-02"}), "Obra", None, 0.0, NOW + timedelta(days=30),
                            NOW + timedelta(days=31))  # fmt: skip
    ahead = status_page.windows_ahead([weekly, later], {"ZD-01", "ZD-02"}, NOW, TZ)
    assert [(w.zones, w.start) for w in ahead] == [(("ZD-01",), "2026-03-08T02:00-05:00")]


def test_daily_availability_within_hours_and_the_30_day_badge(filled: tuple[Store, cfg.Config]) -> None:
    """ZD-01 down 08:00-09:30 on 10 January (hours 06:00-22:00: 1.5 h of 16), measured every day;
    ZD-32 never measured: its days and its badge say no data, never a figure."""
    store, conf = filled
    now = datetime.fromtimestamp(t("2025-01-20 12:00"), TZ)
    history = status_history.histories(store.reader(), conf.zones, now, TZ)
    days = history["ZD-01"].days
    assert len(days) == status_page.BAR_DAYS
    first = now.date() - timedelta(days=status_page.BAR_DAYS - 1)
    by_day = {(first + timedelta(days=k)).isoformat(): a for k, a in enumerate(days)}
    assert by_day["2025-01-10"] == pytest.approx(1 - 1.5 / 16)
    assert by_day["2025-01-11"] == 1.0 and by_day["2024-12-01"] is None  # before anything was measured
    assert history["ZD-32"].last_30 is None and set(history["ZD-32"].days) == {None}
    v = status_page.view("Estado", conf.zones, {}, now, TZ, history=history)
    z1 = next(z for z in v.zones if z.id == "ZD-01")
    badge = status_page.availability_badge(z1, "es")
    assert "30 días" in badge and "99," in badge
    page = status_page.html(v, "es", max_age=30)
    assert "2025-01-10: 90,6 %" in page  # every bar says its day and figure in text
    # the bars and the map are drawn, not shown as their source (they once were, escaped)
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 20" class="bar"') == len(v.zones)
    assert '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 420"' in page and "&lt;svg" not in page
    assert "Últimos 30 días" in page
    store.close()


def test_etags_hold_while_nothing_changes_and_weak_or_star_validators_match(tmp_path: Path) -> None:
    """Two renders a minute apart with the same zones, incidents and windows: /status.json and
    /feed.xml keep their ETags (they changed at every cycle), and If-None-Match with the weak form
    or ``*`` gets a 304, as RFC 9110's weak comparison says."""
    from monitor.web.messages import Request
    from monitor.web.statuspage import StatusHandler

    conf, states = zones_and_states(tmp_path)
    page = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ, "cdc")
    page.refresh(conf.zones, states, NOW)
    first = {p: page.page(p, "es") for p in ("/status.json", "/feed.xml")}
    page.refresh(conf.zones, states, NOW + timedelta(minutes=1))
    for path, before in first.items():
        after = page.page(path, "es")
        assert before is not None and after is not None and after.etag == before.etag, path
    assert page.page("/status.json", "es").body != first["/status.json"].body  # type: ignore[union-attr]
    handler = StatusHandler(page)

    def answer(path: str, if_none_match: str) -> int:
        return handler.answer(Request("GET", path, {"if-none-match": if_none_match}, "127.0.0.1")).status

    etag = page.page("/", "es").etag  # type: ignore[union-attr]
    assert answer("/", etag) == answer("/", f"W/{etag}") == answer("/", f'"x", W/{etag}') == 304
    assert answer("/", "*") == answer("/status.json", "*") == 304
    assert answer("/", '"otro"') == 200 and answer("/", "") == 200
    json_etag = page.page("/status.json", "es").etag  # type: ignore[union-attr]
    assert json_etag.startswith('W/"') and answer("/status.json", json_etag) == 304


def test_only_the_zones_that_changed_are_rendered_again(tmp_path: Path) -> None:
    """A cycle that changes one zone makes that zone's row, JSON and badges again and keeps the
    others' (2,000 zones: the page was rendered whole each cycle); the page, the JSON and the
    changed badge say the change, the others' badges keep their ETag; a new day makes all again."""
    conf, states = zones_and_states(tmp_path)
    pages = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    pages.refresh(conf.zones, states, NOW)
    assert pages.parts.made == 4 and pages.errors == 0
    before = {z.id: (pages.page(f"/badge/{z.id}.svg", "es"), pages.page("/", "es")) for z in conf.zones}
    pages.refresh(conf.zones, states, NOW + timedelta(minutes=1))
    assert pages.parts.made == 4  # nothing changed: nothing made again
    states["ZD-02"].status, states["ZD-02"].since = ZoneStatus.UP, NOW + timedelta(minutes=2)
    pages.refresh(conf.zones, states, NOW + timedelta(minutes=2))
    assert pages.parts.made == 5
    data = json.loads(pages.page("/status.json", "es").body)  # type: ignore[union-attr]
    assert {z["id"]: z["state"] for z in data["zones"]}["ZD-02"] == "up" and data["counts"]["down"] == 0
    html = pages.page("/", "es").body.decode()  # type: ignore[union-attr]
    assert 'data-zone="ZD-02" data-state="up"' in html
    for z in conf.zones:
        badge = pages.page(f"/badge/{z.id}.svg", "es")
        assert badge is not None and (badge.etag == before[z.id][0].etag) is (z.id != "ZD-02"), z.id  # type: ignore[union-attr]
    assert pages.page("/", "es").etag != before["ZD-02"][1].etag  # type: ignore[union-attr]
    pages.refresh(conf.zones, states, NOW + timedelta(days=1))  # the bars' days move on
    assert pages.parts.made == 9
    # The store's figures read again: today's figure of one zone changed, a past day of another.
    days = tuple(0.9 + k / 1000 for k in range(status_page.BAR_DAYS))
    history = {z.id: status_page.History(days, 0.97) for z in conf.zones}
    pages.refresh(conf.zones, states, NOW + timedelta(days=1), history=history)
    history["ZD-01"] = status_page.History((*days[:-1], 0.5), 0.97)
    history["ZD-03"] = status_page.History((*days[:40], None, *days[41:]), 0.96)
    pages.refresh(conf.zones, states, NOW + timedelta(days=1), history=history)
    # the whole page (and its ETag) is what a fresh render makes
    fresh = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    fresh.refresh(conf.zones, states, NOW + timedelta(days=1), history=history)
    for path in ("/", "/status.json", "/badge/ZD-02.svg", "/badge/ZD-03/availability.svg", "/feed.xml"):
        for lang in ("es", "en"):
            kept, made = pages.page(path, lang), fresh.page(path, lang)
            assert kept is not None and made is not None and (kept.body, kept.etag) == (made.body, made.etag), path


def test_cycles_ask_for_a_render_that_runs_off_their_thread_once_a_second(tmp_path: Path) -> None:
    """A cycle's end only asks: the render runs on the page's own thread, at most once a second
    however fast cycles (or agents' batches) end, and the last change asked for is shown."""
    import threading

    from monitor.web.statuspage import RENDER_EVERY, PublicStatus
    from tests.conftest import free_port

    conf, states = zones_and_states(tmp_path)
    assert conf.status_page is not None
    listen = {"listen": f"127.0.0.1:{free_port()}"}
    conf = dataclasses.replace(conf, status_page=conf.status_page.model_copy(update=listen))
    public = PublicStatus(lambda: conf, lambda: states, lambda: [], lambda: ())
    renders: list[tuple[float, str]] = []
    render = public.page.refresh
    # The first render on the page's thread is held until the cycles below have all asked: each ask
    # returning while it is held shows that no cycle waits for a render (a time bound on each ask
    # would measure the GIL's 5 ms switch interval on a busy machine, not the design).
    rendering, held = threading.Event(), threading.Event()

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        renders.append((time.monotonic(), threading.current_thread().name))
        if threading.current_thread().name == "status-render" and not rendering.is_set():
            rendering.set()
            held.wait(30)
        render(*args, **kwargs)

    public.page.refresh = counted  # type: ignore[method-assign]
    public.start()
    try:
        t0 = time.monotonic()
        public.refresh()
        assert rendering.wait(10), "the page's thread never rendered"
        asking = time.monotonic()
        for _ in range(150):  # 1.5 s of cycles ending 100 times a second, a render under way
            public.refresh()
            time.sleep(0.01)
        # Every ask returned while the render was held (30 s): none waited for it, none started another.
        assert time.monotonic() - asking < 20 and len(renders) == 2, renders
        held.set()
        states["ZD-02"].status = ZoneStatus.UP
        public.refresh()
        end = time.monotonic() + 3 * RENDER_EVERY
        while time.monotonic() < end and b'data-zone="ZD-02" data-state="up"' not in public.page.page("/", "es").body:  # type: ignore[union-attr]
            time.sleep(0.05)
        assert b'data-zone="ZD-02" data-state="up"' in public.page.page("/", "es").body  # type: ignore[union-attr]
    finally:
        public.stop()
    spent = time.monotonic() - t0
    assert renders[0][1] == "MainThread" and {name for _, name in renders[1:]} == {"status-render"}
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(renders[1:])]
    assert all(g >= RENDER_EVERY * 0.95 for g in gaps), gaps
    assert 2 <= len(renders) <= spent / RENDER_EVERY + 2, (len(renders), spent)


@pytest.mark.parametrize("group", [False, True], ids=["instance", "ha_group"])
def test_the_daily_bars_read_today_only_until_late_data_touches_a_past_day(
    filled: tuple[Store, cfg.Config], group: bool
) -> None:
    """The bars' past days are kept: a later read takes today (and the badge's partial first day)
    from the store, and reads a zone's past again only when its rows before today change (a late
    batch writing a past outage) or a new day begins; every figure is the whole read's, for one
    instance and for an HA group (whose members' rows fold into one view, a second member silent)."""
    from store import db as st
    from store.reader import GroupReader

    store, conf = filled
    daily = status_history.DailyHistory()

    def reader():  # type: ignore[no-untyped-def]
        return GroupReader(store.engine, "grupo", ["cdc", "cdc-2"]) if group else store.reader()

    def same(now: datetime) -> None:
        whole = status_history.histories(reader(), conf.zones, now, TZ)
        kept = daily.read(reader(), conf.zones, now, TZ)
        for z in conf.zones:
            assert kept[z.id].days == whole[z.id].days, z.id
            assert kept[z.id].last_30 == pytest.approx(whole[z.id].last_30, abs=1e-12), z.id

    now = datetime.fromtimestamp(t("2025-01-20 12:00"), TZ)
    same(now)
    assert daily.read_again == len(conf.zones)
    same(now + timedelta(minutes=10))  # the same day, nothing late: the past is not read again
    assert daily.read_again == len(conf.zones)
    # A late batch: ZD-02 was down for an hour on 15 January, stored now.
    down, up = t("2025-01-15 10:00"), t("2025-01-15 11:00")
    late = [st.StateChange("ZD-02", "up", "down", down, down), st.StateChange("ZD-02", "down", "up", up, up)]
    store.write_cycle([], late, 0.0)
    same(now + timedelta(minutes=20))
    assert daily.read_again == len(conf.zones) + 1  # ZD-02 alone
    assert daily.read(reader(), conf.zones, now + timedelta(minutes=20), TZ)["ZD-02"].days[-6] == pytest.approx(
        1 - 1 / 16
    )
    same(now + timedelta(days=1))  # midnight: every zone's days move on
    assert daily.read_again == 2 * len(conf.zones) + 1
    store.close()


def test_a_render_that_fails_leaves_the_renderer_for_the_next_ask() -> None:
    """A bug in one render (logged) does not end the thread that renders the pages: the next ask
    is rendered."""
    import threading

    from monitor.web.coalesce import Coalescer

    done: list[int] = []
    second = threading.Event()

    def work() -> None:
        done.append(len(done))
        if len(done) == 1:
            raise RuntimeError("a bug in a render")
        second.set()

    renders = Coalescer("test-render", work, every=0.05)
    renders.start()
    try:
        renders.ask()
        end = time.monotonic() + 3
        while not done and time.monotonic() < end:
            time.sleep(0.01)
        renders.ask()
        assert second.wait(3), done
    finally:
        renders.stop()
    assert not renders._thread.is_alive()


def test_a_zone_a_reload_removes_leaves_the_page_its_badges_and_its_json(tmp_path: Path) -> None:
    conf, states = zones_and_states(tmp_path)
    pages = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    pages.refresh(conf.zones, states, NOW)
    gone = conf.zones[-1].id
    assert pages.page(f"/badge/{gone}.svg", "es") is not None
    pages.refresh(iter(conf.zones[:-1]), states, NOW + timedelta(minutes=1))  # zones as any iterable
    assert (
        pages.page(f"/badge/{gone}.svg", "es") is None and pages.page(f"/badge/{gone}/availability.svg", "en") is None
    )
    assert f'data-zone="{gone}"' not in pages.page("/", "es").body.decode()  # type: ignore[union-attr]
    assert gone not in {z["id"] for z in json.loads(pages.page("/status.json", "es").body)["zones"]}  # type: ignore[union-attr]
    pages.refresh(conf.zones, states, NOW + timedelta(minutes=2))  # back again
    assert pages.page(f"/badge/{gone}.svg", "es") is not None and pages.errors == 0


def test_names_that_carry_the_pages_own_marks_are_printed_as_text(tmp_path: Path) -> None:
    """The page is put together at comments it marks itself with (where a localidad's rows, a
    row's bar and its 30-day figure go): an inventory whose names carry those very comments is
    printed escaped, and every zone's row is in the page once."""
    import dataclasses

    conf, states = zones_and_states(tmp_path)
    marks = ["<!--vigia-rows-0-->", "<!--vigia-bar-->", "<!--vigia-30-->", "<!--vigia-rows-9-->"]
    zones = [
        dataclasses.replace(z, name=f"Zona {marks[k % 4]}", localidad=f"Loc {marks[(k + 1) % 4]}")
        for k, z in enumerate(conf.zones)
    ]
    days = tuple(0.9 + k / 1000 for k in range(status_page.BAR_DAYS))
    history = {z.id: status_page.History(days, 0.97) for z in zones}
    pages = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    pages.refresh(zones, states, NOW, history=history)
    assert pages.errors == 0
    html = pages.page("/", "es").body.decode()  # type: ignore[union-attr]
    for mark in marks:
        assert mark.replace("<", "&lt;").replace(">", "&gt;") in html
    for z in zones:
        assert html.count(f'data-zone="{z.id}"') == 1, z.id
    assert html.count("<svg") == len(zones) + 1  # each zone's bar, and the map
    data = json.loads(pages.page("/status.json", "en").body)  # type: ignore[union-attr]
    assert [z["name"] for z in data["zones"]] == [z.name for z in zones]


def test_readers_at_once_of_a_page_not_yet_joined_get_the_same_body(tmp_path: Path) -> None:
    # A body is joined by its first reader; many requests arriving together on a fresh render
    # (a citizen's reload storm after an outage) all get the whole page.
    import threading

    def read(page: Page, start: threading.Barrier, got: list[bytes]) -> None:
        start.wait(timeout=10)
        got.append(page.body)

    conf, states = zones_and_states(tmp_path)
    for _ in range(5):
        pages = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
        pages.refresh(conf.zones, states, NOW)
        page, start, got = pages.page("/", "es"), threading.Barrier(16), []
        assert page is not None
        readers = [threading.Thread(target=read, args=(page, start, got)) for _ in range(16)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=10)
        assert len(got) == 16 and len(set(got)) == 1 and got[0].rstrip().endswith(b"</html>")
        assert all(got[0].count(f'data-zone="{z.id}"'.encode()) == 1 for z in conf.zones)


def test_a_render_that_fails_midway_leaves_the_next_one_whole(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A bug that breaks a render after the zones' parts were made (here, the feed) keeps the last
    good page served; the next render shows the change, as a fresh render of the same state does."""
    from reports import status_feed

    conf, states = zones_and_states(tmp_path)
    pages = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    pages.refresh(conf.zones, states, NOW)
    before = pages.page("/", "es")
    states["ZD-02"].status, states["ZD-02"].since = ZoneStatus.UP, NOW + timedelta(minutes=1)
    real = status_feed.feed
    monkeypatch.setattr(status_feed, "feed", lambda *a: (_ for _ in ()).throw(RuntimeError("a bug")))
    pages.refresh(conf.zones[:-1], states, NOW + timedelta(minutes=1))  # a reload's removal, too
    assert pages.errors == 1 and pages.page("/", "es") is before
    monkeypatch.setattr(status_feed, "feed", real)
    pages.refresh(conf.zones[:-1], states, NOW + timedelta(minutes=2))
    fresh = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    fresh.refresh(conf.zones[:-1], states, NOW + timedelta(minutes=2))
    gone = conf.zones[-1].id
    assert pages.page(f"/badge/{gone}.svg", "es") is None
    for path in ("/", "/status.json", "/badge/ZD-02.svg"):
        kept, made = pages.page(path, "es"), fresh.page(path, "es")
        assert kept is not None and made is not None and (kept.body, kept.etag) == (made.body, made.etag), path
