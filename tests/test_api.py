"""The read-only JSON API on the main listener: behind its basic auth, fixed paths, no probe
settings, conforming to its own OpenAPI document (schemathesis, from PyPI, against the daemon)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from monitor.cli import main
from tests.conftest import free_port
from tests.servers import http_server
from tests.test_status_page import CONFIG
from tests.vigiaproc import VigiaProcess

PASSWORD = "clave-de-prueba"


def get(url: str, auth: bool = True) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"noc:{PASSWORD}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_api_answers_behind_auth_and_matches_its_openapi_document(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users: {{noc: '{hashed}'}}\n")
    with http_server({"/": lambda _h: (200, {}, b"portal")}) as portal:
        text = CONFIG % {"status": free_port(), "directory": "null", "portal": portal.port}
        vigia = VigiaProcess(text, tmp_path)
        vigia.auth = ("noc", PASSWORD)
        opened = ["incident", "open", "--zones", "ZD-02", "--title", "Sin energía", "--cause", "energia"]
        assert main([*opened, "--config", str(vigia.config)]) == 0
        vigia.start("--web.config.file", str(web))
        try:
            vigia.wait_ready(timeout=30)
            base = f"http://127.0.0.1:{vigia.port}/api/v1/"
            assert get(base + "zones", auth=False)[0] == 401
            status, body = get(base + "zones")
            assert status == 200
            zones = {z["id"]: z for z in json.loads(body)}
            assert set(zones) == {"ZD-01", "ZD-02", "ZD-03"} and zones["ZD-03"]["state"] == "maintenance"
            targets = json.loads(get(base + "targets")[1])
            text_all = json.dumps(targets)
            assert {t["id"] for t in targets} >= {"ZD-01:gateway", "ZD-01:portal"}
            assert f"127.0.0.1:{portal.port}" not in text_all and "127.0.0.1:9/" not in text_all  # no settings
            [incident] = json.loads(get(base + "incidents")[1])
            assert incident["title"] == "Sin energía" and incident["events"][0]["by"]
            windows = json.loads(get(base + "maintenance")[1])
            assert windows[0]["id"] == "obra" and "ZD-03" in windows[0]["covers"]
            assert get(base + "zones?id=ZD-01&file=/etc/passwd")[1] == body  # a query chooses nothing
            for path in ("../vigia.yml", "nothing", "zones/ZD-01"):
                assert get(base + path)[0] == 404, path
            openapi = json.loads(get(base + "openapi.json")[1])
            assert set(openapi["paths"]) == {f"/api/v1/{n}" for n in ("zones", "targets", "incidents", "maintenance")}
            schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
                "schemathesis"
            )
            if schemathesis is None:
                if os.environ.get("CI") == "true":
                    pytest.fail("schemathesis is not installed (pip install -e '.[test]')")
                pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
            done = subprocess.run(
                [schemathesis, "run", base + "openapi.json", "--url", f"http://127.0.0.1:{vigia.port}",
                 "--auth", f"noc:{PASSWORD}", "--checks", "all", "--max-examples", "5"],
                capture_output=True, text=True, timeout=300, cwd=str(tmp_path),  # its cache stays out of the tree
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        finally:
            vigia.stop()


def test_no_output_carries_a_probe_setting_or_an_internal_reason(tmp_path: Path) -> None:
    """Secrets planted in probe settings (a URL's query, a body regex, an internal host:port) and a
    window's reason written for the office: every failing check keeps its reason code, and no output
    of the daemon (API, /metrics, status page, JSON, feed, badges) shows any of them."""
    secret_port, internal = free_port(), "10.213.7.9"
    with http_server({"/": lambda _h: (200, {}, b"portal"), "/salud": lambda _h: (200, {}, b"nada")}) as web:
        text = CONFIG % {"status": free_port(), "directory": "null", "portal": web.port}
        text = text.replace(
            f'portal_url: "http://127.0.0.1:{web.port}/"\n  - id: ZD-03',
            f'portal_url: "http://127.0.0.1:{secret_port}/?k=S3CRET-PORTAL"\n  - id: ZD-03',
            1,
        )
        text += (
            "targets:\n"
            f"  - {{id: api-salud, probe: http, http: {{url: 'http://127.0.0.1:{secret_port}/salud?token=S3CRET-QUERY'}}}}\n"
            f"  - {{id: api-cuerpo, probe: http, http: {{url: 'http://127.0.0.1:{web.port}/salud', "
            "body_regex: 'S3CRET-REGEX'}}\n"
            f"  - {{id: core, probe: tcp, tcp: {{host: {internal}, port: 4444}}, timeout: 200ms}}\n"
        )
        text = text.replace(
            '  - {id: obra, zones: [ZD-03], cron: "0 0 * * *", duration: 24h, reason: "Cambio de equipo"}',
            '  - {id: obra, zones: [ZD-03], targets: [core], cron: "0 0 * * *", duration: 24h, '
            'reason: "RAZON-INTERNA cambio del core"}',
        )
        status_port = int(text.split('listen: "127.0.0.1:')[1].split('"')[0])
        vigia = VigiaProcess(text, tmp_path).start()
        try:
            vigia.wait_ready(timeout=30)
            base = f"http://127.0.0.1:{vigia.port}"
            vigia.wait_for(lambda: "body_mismatch" in get(base + "/api/v1/targets", auth=False)[1].decode(),
                           message="the body regex fails")  # fmt: skip
            targets = {t["id"]: t for t in json.loads(get(base + "/api/v1/targets", auth=False)[1])}
            assert targets["api-salud"]["last"]["reason"] == "refused"
            assert targets["api-salud"]["last"]["message"] == "connection refused"
            assert targets["api-cuerpo"]["last"]["message"] == "the page did not have the expected content"
            inside = {path: get(base + path, auth=False)[1] for path in (
                "/metrics", "/api/v1/zones", "/api/v1/targets", "/api/v1/incidents", "/api/v1/maintenance",
                "/api/v1/openapi.json")}  # fmt: skip
            public = {path: get(f"http://127.0.0.1:{status_port}{path}", auth=False)[1] for path in (
                "/", "/?lang=en", "/status.json", "/feed.xml", "/badge/ZD-02.svg", "/badge/ZD-03.svg",
                "/badge/ZD-03/availability.svg")}  # fmt: skip
        finally:
            assert vigia.stop() == 0
    for path, body in {**inside, **public}.items():
        for planted in (b"S3CRET", f":{secret_port}".encode(), internal.encode()):
            assert planted not in body, (path, planted)
    for path, body in public.items():
        assert b"RAZON-INTERNA" not in body, path
    assert b"en mantenimiento" in public["/"]  # the window still shows, without its reason


def test_the_documents_make_again_only_the_zones_and_targets_that_changed(tmp_path: Path) -> None:
    """Each zone's and target's JSON is kept until what it shows changes: a cycle that moves one
    zone makes one part again, and the document is byte for byte the whole lists dumped."""
    from datetime import timedelta

    from domain.zone_state import ZoneStatus
    from monitor.web import api
    from tests.test_status_page import NOW, zones_and_states

    conf, states = zones_and_states(tmp_path)

    def whole() -> dict[str, bytes]:
        dump = api._dump
        return {"zones": dump([api.zone(z, states.get(z.id), conf.timezone) for z in conf.zones]),
                "targets": dump([api.target(t, None, conf.timezone) for t in conf.targets])}  # fmt: skip

    docs = api.Documents()
    built = docs.build(conf, {}, states, [], ())
    parts = len(conf.zones) + len(conf.targets)
    assert docs.made == parts and {k: built[k] for k in ("zones", "targets")} == whole()
    docs.build(conf, {}, states, [], ())
    assert docs.made == parts  # nothing changed
    states["ZD-02"].status, states["ZD-02"].since = ZoneStatus.UP, NOW + timedelta(minutes=3)
    built = docs.build(conf, {}, states, [], ())
    assert docs.made == parts + 1
    assert {k: built[k] for k in ("zones", "targets")} == whole()
    assert {z["id"]: z["state"] for z in json.loads(built["zones"])}["ZD-02"] == "up"


def test_a_targets_last_result_is_written_after_its_kept_head(tmp_path: Path) -> None:
    """A target's last result changes every cycle and the rest only with its state: the head is kept,
    the last result written after it, and the document is byte for byte the whole list dumped, as
    results come, as the state changes, and when a reload changes the timezone."""
    import dataclasses
    from zoneinfo import ZoneInfo

    from domain.state import TargetState
    from monitor.web import api
    from probes.result import ProbeResult
    from tests.test_status_page import zones_and_states

    conf, zone_states = zones_and_states(tmp_path)
    assert conf.targets
    states = {t.id: TargetState(t.id, 1, 1) for t in conf.targets}

    def whole() -> bytes:
        return api._dump([api.target(t, states.get(t.id), conf.timezone) for t in conf.targets])

    def results(at: float, ok: bool) -> None:
        for t in conf.targets:
            r = ProbeResult(t.id, t.probe, at, 0.012, ok, "" if ok else "timeout", "", {"rtt_seconds": 0.01})
            states[t.id].observe(r)

    docs = api.Documents()
    assert docs.build(conf, states, zone_states, [], ())["targets"] == whole()
    heads = docs.made
    results(1_796_600_000.0, True)  # the first results: state unknown -> up, heads made again
    assert docs.build(conf, states, zone_states, [], ())["targets"] == whole()
    heads = docs.made
    for k in range(3):  # cycles that change only the last results: no head made again
        results(1_796_600_060.0 + 60 * k, True)
        assert docs.build(conf, states, zone_states, [], ())["targets"] == whole()
    assert docs.made == heads
    results(1_796_600_300.0, False)  # down: the heads say so
    built = docs.build(conf, states, zone_states, [], ())["targets"]
    assert built == whole() and docs.made == heads + len(conf.targets)
    assert {t["last"]["reason"] for t in json.loads(built)} == {"timeout"}
    conf = dataclasses.replace(conf, timezone=ZoneInfo("UTC"))  # a reload: the times in another zone
    assert docs.build(conf, states, zone_states, [], ())["targets"] == whole()


def test_cycles_render_the_api_only_while_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody reading: a cycle's end renders nothing (at 15,000 targets a render was ~0.5 s of CPU).
    The first read then waits for one render of the latest cycle, and while reads go on each cycle's
    end renders again, so readers do not wait."""
    from monitor.web import api
    from monitor.web.coalesce import Coalescer

    renders: list[int] = []
    docs = api.Api("test")

    def render() -> None:
        wanted = docs.wanted()
        renders.append(wanted)
        docs.refresh({"targets": f"[{wanted}]".encode()}, wanted)

    coalescer = Coalescer("api-render-test", render, every=0.0)
    docs.render_soon = coalescer.ask
    coalescer.start()
    try:
        render()  # the start's render, before the listeners answer
        assert [docs.changed() for _ in range(5)] == [False] * 5  # five cycles, never read
        assert renders == [0]
        assert docs.document(api.PREFIX + "targets") == b"[5]"  # the read waited for the latest cycle
        assert renders == [0, 5]
        assert docs.document(api.PREFIX + "targets") == b"[5]" and renders == [0, 5]  # up to date: no render
        assert docs.changed() is True  # read lately: the cycle's end asks for a render
        monkeypatch.setattr(api, "INTEREST", 0.0)
        assert docs.changed() is False  # not read since: cycles stop rendering
    finally:
        coalescer.stop()


def test_a_read_waiting_for_a_render_does_not_hold_up_the_listener() -> None:
    """A read of out-of-date documents waits for their render on a thread of the listener's pool,
    never on its loop: meanwhile the loop answers other requests (here /-/healthy) at once."""
    import threading
    import time

    from monitor.web import api
    from monitor.web.coalesce import Coalescer
    from monitor.web.endpoints import MetricsServer
    from monitor.web.webconfig import WebGuard

    docs = api.Api("test")

    def slow_render() -> None:
        wanted = docs.wanted()
        time.sleep(1.5)  # a render at 15,000 targets takes about half a second of CPU
        docs.refresh({"targets": f"[{wanted}]".encode()}, wanted)

    coalescer = Coalescer("api-render-test", slow_render, every=0.0)
    docs.render_soon = coalescer.ask
    docs.refresh({"targets": b"[0]"}, 0)
    docs.changed()  # a cycle ended, nobody had read the API: out of date
    server = MetricsServer(f"127.0.0.1:{free_port()}", None, lambda: True, WebGuard(None), api=docs)  # type: ignore[arg-type]
    coalescer.start()
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(get(base + "/api/v1/targets", auth=False)[1]))
        reader.start()
        time.sleep(0.3)  # the read is waiting for the render now
        began = time.monotonic()
        assert get(base + "/-/healthy", auth=False) == (200, b"OK\n")
        assert time.monotonic() - began < 1.0, "the listener's loop waited with the API read"
        reader.join(timeout=10)
        assert got == [b"[1]"]  # the read got the render of the cycle that had ended
    finally:
        server.stop()
        coalescer.stop()
