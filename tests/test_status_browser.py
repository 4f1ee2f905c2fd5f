"""The status page in a real browser: Debian's chromium, headless, driven by playwright-core.

A lab of four zones (one up, one down, one in maintenance, one never measured) is served by the
real status listener; the browser, with JavaScript off, must show each state's words, with text
that contrasts with its colour (WCAG AA), without sideways scrolling on a phone. The screenshots
are kept in test-artifacts/ (CI keeps them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import config as cfg
from monitor.web.statuspage import StatusPage, StatusServer
from tests.test_status_page import NOW, TZ, zones_and_states

ROOT = Path(__file__).resolve().parent.parent
BROWSER = ROOT / "tests" / "browser"
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.server


def _need_browser() -> None:
    missing = [what for what, ok in (
        ("Debian's chromium (/usr/bin/chromium)", os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium"))),
        ("node", shutil.which("node") is not None),
        ("playwright-core (npm install in tests/browser, done by deploy/bootstrap.sh --tests)",
         (BROWSER / "node_modules" / "playwright-core").is_dir()),
    ) if not ok]  # fmt: skip
    if missing:
        reason = "the browser test needs " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI must run it)")
        pytest.skip(reason)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    _need_browser()
    conf, states = zones_and_states(tmp_path)
    pages = StatusPage(cfg.StatusPageSettings(listen="127.0.0.1:0"), TZ)
    pages.refresh(conf.zones, states, NOW)
    server = StatusServer("127.0.0.1:0", pages)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/"
    finally:
        server.stop()


def look(url: str, name: str, width: int, height: int, lang: str = "es-CO") -> dict[str, object]:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    done = subprocess.run(
        ["node", str(BROWSER / "page.mjs"), url, str(shot), str(width), str(height), lang],
        capture_output=True, text=True, timeout=90, cwd=BROWSER,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert shot.stat().st_size > 1000
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("width", "height"), [(412, 915), (1280, 800)], ids=["phone", "desktop"])
def test_a_visitor_reads_each_zones_state_in_words(served: str, width: int, height: int) -> None:
    seen = look(served, f"status-page-{width}x{height}.png", width, height)
    assert seen["status"] == 200 and seen["lang"] == "es" and seen["scripts"] == 0
    labels = {x["zone"]: x for x in seen["labels"]}  # type: ignore[attr-defined]
    assert {z: x["words"] for z, x in labels.items()} == {
        "ZD-01": "operando", "ZD-02": "caída", "ZD-03": "en mantenimiento", "ZD-04": "sin datos",
    }  # fmt: skip
    for zone, x in labels.items():
        assert x["visible"], zone
        assert x["contrast"] >= 4.5, (zone, x["contrast"])
    text = str(seen["text"])
    assert "Biblioteca <script>alert(1)</script>" in text  # an operator's text shows as text
    assert "Histórica y del Caribe Norte" in text and "Resumen" in text
    assert not seen["sideways"], "the page scrolls sideways"


def test_an_english_browser_gets_the_page_in_english(served: str) -> None:
    seen = look(served, "status-page-en.png", 1280, 800, lang="en-US")
    assert seen["lang"] == "en"
    assert {x["words"] for x in seen["labels"]} == {"operating", "down", "in maintenance", "no data"}  # type: ignore[attr-defined]
