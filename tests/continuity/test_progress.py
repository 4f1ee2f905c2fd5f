"""A drill run from the command line tells what it is doing as it goes: each step as it starts and
ends, each verify retry with why it failed and how long is left (a newcomer once waited two silent
minutes for a verify polling until max_duration)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port
from tests.vigiaproc import ROOT

PLAN = """version: p1
services:
  - {id: web, name: Portal, rto: 1s, rpo: 1h, mtd: 1h}
drills:
  - id: espera
    service: web
    kind: restore
    exercise: functional
    objective: Comprobar que el portal responde
    max_duration: 4s
    verify_poll: 1s
    verify:
      - {type: probe, name: portal responde, probe: tcp, settings: {host: 127.0.0.1, port: %(port)d}}
"""


def test_each_step_and_retry_is_printed_as_it_happens(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: every attempt is refused until max_duration
    (tmp_path / "plan.yml").write_text(PLAN % {"port": port})
    (tmp_path / "c.yml").write_text(f"state_dir: {tmp_path}/state\ncontinuity: {{plan: plan.yml}}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "drill", "run", "--config", str(tmp_path / "c.yml"), "espera"],
        cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    started = time.monotonic()
    first = proc.stdout.readline()
    first_at = time.monotonic() - started
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 3
    took = time.monotonic() - started
    # The first line came while the drill still had seconds to run, not with the verdict at the end.
    assert "verify[0] portal responde: started" in first and first_at < took - 2, (first_at, took)
    lines = rest.splitlines()
    retries = [line for line in lines if "verify attempt" in line]
    assert len(retries) >= 2
    first_retry = retries[0]
    assert "portal responde: " in first_retry and "next try in 1s" in first_retry
    assert "s left of max_duration 4s" in first_retry
    assert any("verify[0] portal responde: FAILED: " in line for line in lines)
    assert lines[-3].startswith("espera run ") and "failed (verify did not pass before max_duration)" in lines[-3]


def test_quiet_prints_the_verdict_only(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text((PLAN % {"port": free_port()}).replace("max_duration: 4s", "max_duration: 1s"))
    (tmp_path / "c.yml").write_text(f"state_dir: {tmp_path}/state\ncontinuity: {{plan: plan.yml}}\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "drill", "run", "-q", "--config", str(tmp_path / "c.yml"), "espera"],
        cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3 and "started" not in done.stdout and done.stdout.startswith("espera run ")
