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
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        finally:
            vigia.stop()
