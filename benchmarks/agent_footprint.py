"""A zone agent's footprint with the default checks, on the small box of a zone (goal: at most 40 MB
resident and 1 % of a core).

Starts a real centre (python -m monitor run, SQLite) whose zone has an ``agent:`` entry with every
check at its default rhythm (60 s; the download test every 30 min, its first run included), and a
real agent (python -m monitor agent run) pushing to it every 10 s; samples the agent alone.
The checks point at loopback: the gateway and an anchor by ICMP, the portal, the resolver (no
server answers: a failing check is measured all the same), and a download of the default size
(5 MB) from a file server in this process.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.footprint import ROOT, _free_port, measure
from tests.agentcentre import VIGIA, agent_file, register, run_agent

DOWNLOAD = 5_000_000  # the agent's default throughput_bytes


class _Blob(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(DOWNLOAD))
        self.end_headers()
        self.wfile.write(bytes(DOWNLOAD))

    def log_message(self, *args: object) -> None:
        pass


def centre_config(port: int, state: str, download: str) -> str:
    base = f"http://127.0.0.1:{port}"
    return (
        f"instance: centro\nstate_dir: {state}\n"
        "targets:\n  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        "zones:\n  - id: ZD-01\n    name: Plaza\n    lat: 10.4\n    lon: -75.5\n"
        f"    agent: {{gateway: 127.0.0.1, dns: {{name: portal.zona.test, expect_answers: [127.0.0.1]}}, "
        f"portal_url: '{base}/-/healthy', anchors: [127.0.0.2], throughput_url: '{download}'}}\n"
    )


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/-/healthy", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the centre did not start")


def run(minutes: float = 10.0) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        config = Path(tmp) / "vigia.yml"
        blobs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Blob)
        threading.Thread(target=blobs.serve_forever, daemon=True).start()
        config.write_text(centre_config(port, tmp, f"http://127.0.0.1:{blobs.server_address[1]}/blob"))
        centre = subprocess.Popen([*VIGIA, "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        agent: subprocess.Popen[bytes] | None = None
        try:
            _wait_ready(f"http://127.0.0.1:{port}")
            token = register(config, "ZD-01")
            home = Path(tmp) / "agent"
            agent = run_agent(agent_file(home, "ZD-01", token, [f"http://127.0.0.1:{port}"], quick=False), None)
            return measure(agent, minutes, "the agent")
        finally:
            for proc in (agent, centre):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=30)
            blobs.shutdown()


def main(*, minutes: float) -> None:
    checks = "default checks (60 s, 5 MB download every 30 min), pushes every 10 s"
    print(f"Zone agent footprint: {checks}, {minutes:g} min")
    f = run(minutes)
    print(
        f"  RSS {f['rss_mb']:.1f} MB (peak {f['peak_rss_mb']:.1f} MB, goal <= 40); "
        f"CPU {f['cpu_percent_of_one_core']:.2f} % of one core (goal <= 1)"
    )
