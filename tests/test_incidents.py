"""Incidents from the command line: stored with who and when, refused whole on bad input, shown
on the status page and in its Atom feed as text, whatever an operator typed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import config as cfg
from monitor.cli import main
from monitor.web.statuspage import StatusPage
from store.db import StateChange, Store
from tests.test_status_page import NOW, TZ, zones_and_states

HOSTILE = "Corte <script>alert(1)</script> {{ 7*7 }} & más"


def vigia(tmp_path: Path, *args: str) -> int:
    return main(["incident", *args, "--config", str(tmp_path / "vigia.yml")])


@pytest.fixture
def conf(tmp_path: Path) -> cfg.Config:
    c, _ = zones_and_states(tmp_path)  # writes tmp_path/vigia.yml: zones ZD-01..ZD-04, SQLite store
    return c


def stored(conf: cfg.Config) -> list[object]:
    store = Store(conf.store_url(), conf.instance)
    try:
        store.migrate()
        return list(store.incidents.listed())
    finally:
        store.close()


def test_open_update_close_keeps_who_and_when(
    tmp_path: Path, conf: cfg.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vigia(tmp_path, "open", "--zones", "ZD-01,ZD-02", "--title", "Sin energía en el sector",
                 "--cause", "energia", "--ticket", "MDA-123") == 0  # fmt: skip
    assert "incident 1 opened" in capsys.readouterr().out
    assert vigia(tmp_path, "update", "1", "--text", "Electricaribe estima 2 horas") == 0
    assert vigia(tmp_path, "list") == 0
    assert "1\topen\t" in capsys.readouterr().out
    assert vigia(tmp_path, "close", "1", "--text", "Energía restablecida") == 0
    assert "incident 1 closed" in capsys.readouterr().out
    [inc] = stored(conf)
    assert inc.zones == ("ZD-01", "ZD-02") and inc.cause == "energia" and inc.ticket == "MDA-123"  # type: ignore[attr-defined]
    assert not inc.open  # type: ignore[attr-defined]
    kinds = [(e.kind, e.text) for e in inc.events]  # type: ignore[attr-defined]
    assert kinds == [("opened", "Sin energía en el sector"), ("update", "Electricaribe estima 2 horas"),
                     ("closed", "Energía restablecida")]  # fmt: skip
    assert all(e.by for e in inc.events)  # type: ignore[attr-defined]  # the operating-system user
    assert vigia(tmp_path, "list") == 0 and capsys.readouterr().out == ""  # none open
    assert vigia(tmp_path, "list", "--all", "-v") == 0
    out = capsys.readouterr().out
    assert "Energía restablecida" in out and "outage" not in out  # its zones were not down meanwhile
    # ZD-02 went down a minute before the incident was opened and is still down: the listing links them.
    [inc] = stored(conf)
    store = Store(conf.store_url(), conf.instance)
    try:
        at = inc.opened_at  # type: ignore[attr-defined]
        store.write_cycle([], [StateChange("ZD-02", "up", "down", at - 30, at - 60, "gateway_timeout")], 0.0)
    finally:
        store.close()
    assert vigia(tmp_path, "list", "--all", "-v") == 0
    out = capsys.readouterr().out
    assert "\toutage\tZD-02\t" in out and "ongoing\tgateway_timeout" in out and "ZD-01" not in out.split("outage")[1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["open", "--zones", "ZD-01,ZD-99", "--title", "x", "--cause", "isp"], "unknown zone(s) ZD-99"),
        (["open", "--zones", "ZD-01,ZD-01", "--title", "x", "--cause", "isp"], "listed twice"),
        (["open", "--zones", "ZD-01", "--title", "x" * 201, "--cause", "isp"], "at most 200"),
        (["open", "--zones", "ZD-01", "--title", "   ", "--cause", "isp"], "the title is empty"),
        (["update", "7", "--text", "y"], "no incident 7"),
        (["close", "7"], "no incident 7"),
        (["open", "--zones", "ZD-01", "--title", "Corte\x1b[2J\x07", "--cause", "isp"], "control character (\\x1b)"),
        (["open", "--zones", "ZD-01", "--title", "Corte", "--cause", "isp", "--ticket", "T\r1"], "the ticket has a"),
        (["update", "1", "--text", "abc\u202edef"], "control character (\\u202e)"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    tmp_path: Path, conf: cfg.Config, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    assert vigia(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert says in err and "nothing was stored" in err
    assert stored(conf) == []


def test_an_update_to_a_closed_incident_or_too_long_is_refused(tmp_path: Path, conf: cfg.Config) -> None:
    assert vigia(tmp_path, "open", "--zones", "ZD-02", "--title", "Equipo dañado", "--cause", "equipo") == 0
    assert vigia(tmp_path, "update", "1", "--text", "z" * 2001) == 2
    assert vigia(tmp_path, "close", "1") == 0
    assert vigia(tmp_path, "close", "1") == 2
    assert vigia(tmp_path, "update", "1", "--text", "tarde") == 2
    [inc] = stored(conf)
    assert [e.kind for e in inc.events] == ["opened", "closed"]  # type: ignore[attr-defined]


def test_an_incident_shows_as_text_on_the_page_the_json_and_the_feed(tmp_path: Path, conf: cfg.Config) -> None:
    assert vigia(tmp_path, "open", "--zones", "ZD-02", "--title", HOSTILE, "--cause", "vandalismo",
                 "--ticket", "T-9") == 0  # fmt: skip
    assert vigia(tmp_path, "update", "1", "--text", "<b>cuadrilla</b> en camino") == 0
    _, states = zones_and_states(tmp_path)
    page = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ, "cdc")
    page.refresh(conf.zones, states, NOW, incidents=stored(conf))  # type: ignore[arg-type]
    html = page.page("/", "es").body.decode()  # type: ignore[union-attr]
    assert "Incidentes abiertos" in html and "vandalismo" in html and "Caso T-9" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }} &amp; más" in html
    assert "&lt;b&gt;cuadrilla&lt;/b&gt; en camino" in html
    data = json.loads(page.page("/status.json", "es").body)  # type: ignore[union-attr]
    [inc] = data["incidents"]
    assert inc["title"] == HOSTILE and "by" not in json.dumps(inc)  # who typed it stays in the audit trail
    feed = ET.fromstring(page.page("/feed.xml", "es").body)  # type: ignore[union-attr]
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [entry] = feed.findall("a:entry", ns)
    assert entry.findtext("a:title", namespaces=ns) == f"[abierto] {HOSTILE}"
    assert "<b>cuadrilla</b> en camino" in (entry.findtext("a:content", namespaces=ns) or "")
    assert (entry.findtext("a:updated", namespaces=ns) or "").endswith("-05:00")


def test_a_stored_title_with_control_characters_leaves_every_output_valid(
    tmp_path: Path, conf: cfg.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row stored before control characters were refused (or typed into the database): the feed
    stays valid XML (readers drop a whole invalid feed), the page and the JSON carry no raw ESC or
    BEL, and `incident list` shows them escaped instead of driving the terminal."""
    store = Store(conf.store_url(), conf.instance)
    try:
        store.migrate()
        store.incidents.open(["ZD-02"], "Corte\x1b[31m rojo\x07", "isp", "", "legacy", NOW.timestamp())
    finally:
        store.close()
    _, states = zones_and_states(tmp_path)
    page = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ, "cdc")
    page.refresh(conf.zones, states, NOW, incidents=stored(conf))  # type: ignore[arg-type]
    feed = ET.fromstring(page.page("/feed.xml", "es").body)  # type: ignore[union-attr]  # parses: valid XML
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert feed.findtext("a:entry/a:title", namespaces=ns) == "[abierto] Corte[31m rojo"
    html = page.page("/", "es").body  # type: ignore[union-attr]
    assert b"\x1b" not in html and b"\x07" not in html and b"Corte [31m rojo" in html
    assert vigia(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "Corte\\x1b[31m rojo\\x07" in out
