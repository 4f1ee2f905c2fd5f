"""The daemon's footprint: 130 targets at a 60 s interval, sampled over several minutes.

Starts the real daemon (python -m monitor run) on loopback ICMP, TCP and HTTP
targets and samples its resident memory and CPU time with psutil.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(port: int, state: str) -> str:
    lines = [f"state_dir: {state}", "defaults: {interval: 60s, timeout: 5s}", "targets:"]
    for i in range(100):
        lines.append(f"  - {{id: gw-{i:03d}, probe: icmp, icmp: {{address: 127.30.{i // 250}.{i % 250 + 1}}}}}")
    for i in range(15):
        lines.append(f"  - {{id: web-{i:02d}, probe: http, http: {{url: 'http://127.0.0.1:{port}/-/healthy'}}}}")
    for i in range(14):
        lines.append(f"  - {{id: tcp-{i:02d}, probe: tcp, tcp: {{host: 127.0.0.1, port: {port}}}}}")
    lines.append("  - {id: this-host, probe: host}")
    return "\n".join(lines) + "\n"


def run(minutes: float = 10.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        path = Path(tmp) / "vigia.yml"
        path.write_text(config(port, tmp))
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(path), "--listen", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            got = measure(proc, minutes, "the daemon")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"targets": 130, **got}


def measure(proc: subprocess.Popen[bytes], minutes: float, what: str, settle: float = 5.0) -> dict[str, float]:
    """A running process's resident memory (now and at its peak) and its share of one core, sampled
    every few seconds over ``minutes`` after ``settle`` seconds of start-up."""
    ps = psutil.Process(proc.pid)
    time.sleep(settle)  # start-up is not the steady state
    cpu0 = sum(ps.cpu_times()[:2])
    t0 = time.monotonic()
    peak = 0
    end = t0 + minutes * 60
    while time.monotonic() < end and proc.poll() is None:
        peak = max(peak, ps.memory_info().rss)
        time.sleep(min(5.0, max(0.0, end - time.monotonic())))
    elapsed = time.monotonic() - t0
    if proc.poll() is not None:
        raise RuntimeError(f"{what} exited with {proc.returncode} during the footprint run")
    cpu = sum(ps.cpu_times()[:2]) - cpu0
    rss = ps.memory_info().rss
    return {
        "minutes": elapsed / 60,
        "rss_mb": rss / 2**20,
        "peak_rss_mb": max(peak, rss) / 2**20,
        "cpu_percent_of_one_core": cpu / elapsed * 100,
    }
