"""`make demo` shows the whole product: what it runs (the simulated accounting, then the daemon on
examples/demo.yml) is run here from a copy of examples/, on free ports: zones up, down and in
maintenance, their use from the simulated RADIUS table, the public status page, a drill that runs
on this machine, and the month so far as a report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from kernel.month import Month
from tests.conftest import free_port
from tests.vigiaproc import ROOT, VigiaProcess


def vigia_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=str(tmp), env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_the_demo_shows_zones_use_drills_and_a_report(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    status = free_port()
    demo = (tmp_path / "examples" / "demo.yml").read_text().replace("9843", str(status))
    vigia = VigiaProcess(demo, tmp_path, name="examples/demo.yml")  # --listen on a free port, cwd tmp_path
    plan = tmp_path / "examples" / "plans" / "demo-continuidad.yml"
    plan.write_text(plan.read_text().replace("9842", str(vigia.port)))
    filled = subprocess.run(
        [sys.executable, "examples/simulate_radius.py", "examples/demo.yml"], cwd=str(tmp_path),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert filled.returncode == 0 and "SIMULATED sessions for 5 demo zones" in filled.stdout, filled.stderr
    vigia.start()
    try:
        vigia.wait_ready(timeout=60)

        def states() -> dict[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{status}/status.json", timeout=3) as resp:
                return {z["id"]: z["state"] for z in json.loads(resp.read())["zones"]}

        expected = {"ZD-D1": "up", "ZD-D2": "up", "ZD-D3": "down", "ZD-D4": "maintenance", "ZD-D5": "up"}
        vigia.wait_for(lambda: states() == expected, timeout=90, message=f"the demo zones {expected}")
        # Their use, from the simulated accounting table, on /metrics.
        vigia.wait_for(
            lambda: all((vigia.value("vigia_zone_unique_users", zone=z, period="month") or 0) > 0 for z in expected),
            timeout=60, message="every demo zone's users",
        )  # fmt: skip
        # The demo's drill runs on this machine, against the running daemon and its store.
        drill = vigia_cli(tmp_path, "drill", "run", "-q", "verificacion-historial", "--config", "examples/demo.yml")
        assert drill.returncode == 0 and ": passed" in drill.stdout, drill.stdout + drill.stderr
        # The month so far, as the head of the office would see it.
        month = str(Month.of(datetime.now(UTC), ZoneInfo("America/Bogota")))
        args = ["report", "month", "--config", "examples/demo.yml", "--month", month, "--preview", "--format", "html"]
        report = vigia_cli(tmp_path, *args)
        assert report.returncode == 0, report.stderr
        page = (tmp_path / report.stdout.split()[0]).read_text()
        assert "PRELIMINAR" in page and "Plaza con el portal apagado" in page
        assert "5/5 (RADIUS 5 · tráfico 5)" in page  # zones in use, by source
    finally:
        vigia.stop()
