"""The HTTP listeners under slow and hostile clients: idle and trickling connections cost no thread,
a request head has a deadline, each client address has a cap, refusals are counted on both
listeners, and a real Prometheus's scrapes are answered within a second throughout."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.servers import http_server, prometheus_scraping, scrape_record
from tests.test_status_page import CONFIG
from tests.vigiaproc import ROOT, VigiaProcess


def slowloris(port: int, seconds: float, **opts: int) -> subprocess.Popen[str]:
    args = [f"--{k}={v}" for k, v in opts.items()]
    return subprocess.Popen([sys.executable, "-m", "tests.slowloris", f"127.0.0.1:{port}", f"--seconds={seconds}",
                             *args], cwd=str(ROOT), stdout=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.scale
def test_scrapes_are_answered_within_a_second_under_slowloris(tmp_path: Path) -> None:
    """2,000 idle and 500 trickling connections (one header byte every 3 s) against each listener
    for 12 s: every Prometheus scrape of /metrics and every fetch of the status page succeeds within
    a second; the heads are dropped at their deadline and reopened; the status listener's cap per
    address (64) pushes the attacker's own connections out. A threaded listener failed 180 of 180
    scrapes under the same attack."""
    attack_seconds = 12.0  # past the 10 s head deadline: every trickled head is cut at least once
    with http_server({"/": lambda _h: (200, {}, b"portal")}) as portal:
        status = free_port()
        text = CONFIG % {"status": status, "directory": "null", "portal": portal.port}
        text += "web: {max_connections: 4096, max_connections_per_client: 128}\n"
        vigia = VigiaProcess(text, tmp_path).start()
        fetches: list[float | None] = []
        most_open = 0.0
        try:
            with prometheus_scraping(vigia, tmp_path, scrape_timeout="1s") as prom:
                began = time.time()
                # 100 connections from each of 25 addresses on the metrics listener (its caps set above
                # them: all held at once), 250 from each of 10 on the status listener (cap 64 each).
                attackers = [slowloris(port, attack_seconds, idle=2000, trickle=500, sources=sources, every=3)
                             for port, sources in ((vigia.port, 25), (status, 10))]  # fmt: skip
                end = time.monotonic() + attack_seconds
                # A reader of the status page as a browser is one: a kept-alive connection (reopened
                # if the listener pushed it out), every answer within a second.
                page = http.client.HTTPConnection("127.0.0.1", status, timeout=1)
                while time.monotonic() < end:
                    t0 = time.monotonic()
                    try:
                        page.request("GET", "/")
                        resp = page.getresponse()
                        ok = resp.status == 200 and b"Zonas" in resp.read()
                        fetches.append(time.monotonic() - t0 if ok else None)
                    except (OSError, http.client.HTTPException):
                        page.close()
                        fetches.append(None)
                    most_open = max(most_open, vigia.value("vigia_http_connections_open", listener="metrics") or 0)
                    time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))
                seen = [json.loads(a.communicate(timeout=60)[0]) for a in attackers]
                time.sleep(1.5)
                up, slowest, count = scrape_record(prom, f"{int(time.time() - began)}s")
                rejected = {
                    (lb["listener"], lb["reason"]): v
                    for lb, v in vigia.metrics()["vigia_http_connections_rejected_total"]
                }
        finally:
            assert vigia.stop() == 0
    # Every scrape answered, and fast, while the attack ran.
    assert up == 1 and count >= attack_seconds - 2, (up, count)
    assert slowest < 1.0, slowest
    assert fetches and all(f is not None and f < 1.0 for f in fetches), fetches
    # The attack was real: thousands of connections held open at once on the metrics listener.
    assert all(s["opened"] >= 2500 for s in seen), seen
    assert most_open >= 2000, most_open
    # Heads dropped at their deadline where the caps leave room (metrics); the status listener's
    # per-address cap pushing the attacker's own connections out long before. Both counted.
    assert rejected[("metrics", "head_timeout")] >= 2000, sorted(rejected.items())
    assert rejected[("status", "per_client")] >= 2500, sorted(rejected.items())
    log = vigia.log.read_text()
    assert "Traceback" not in log


def test_a_trickled_head_is_dropped_at_its_deadline_and_keep_alive_serves_in_order(tmp_path: Path) -> None:
    """One listener, by hand: a head trickled past HEAD_TIMEOUT is cut (counted head_timeout) while a
    second client is served; two pipelined requests are answered in order on one connection; an
    unknown method gets 405 and the connection closes; a head over 16 KiB gets 431."""
    from monitor.web import connection
    from monitor.web.http import Listener
    from monitor.web.messages import Handler, Request, Response, text

    class Echo(Handler):
        def answer(self, request: Request) -> Response:
            return text(200, request.path.encode())

    old = connection.HEAD_TIMEOUT
    connection.HEAD_TIMEOUT = 1.0
    listener = Listener("127.0.0.1:0", Echo())
    listener.start()
    try:
        port = listener.port
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        closed = threading.Event()

        def trickle() -> None:
            try:
                for _ in range(40):  # bounded: at most 4 s
                    slow.sendall(b"a")
                    time.sleep(0.1)
            except OSError:
                closed.set()

        worker = threading.Thread(target=trickle)
        worker.start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/fast", timeout=2) as resp:
            assert resp.read() == b"/fast"  # served while the other trickles
        worker.join(timeout=6)
        assert closed.is_set() and 0.9 <= time.monotonic() - t0 < 3.5
        assert listener.counts.rejected["head_timeout"] == 1
        slow.close()

        with socket.create_connection(("127.0.0.1", port), timeout=3) as both:
            both.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while got.count(b"HTTP/1.1 200") < 2 or not got.endswith(b"/two"):
                chunk = both.recv(4096)
                assert chunk
                got += chunk
            assert got.index(b"/one") < got.index(b"/two")
        with socket.create_connection(("127.0.0.1", port), timeout=3) as odd:
            odd.sendall(b"PROPFIND / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            answer = odd.recv(4096)
            assert answer.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in answer
            assert odd.recv(4096) == b""  # closed, its body never awaited
        with socket.create_connection(("127.0.0.1", port), timeout=3) as big:
            big.sendall(b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n")
            assert big.recv(4096).startswith(b"HTTP/1.1 431")
        assert listener.counts.rejected["head_too_large"] == 1
    finally:
        connection.HEAD_TIMEOUT = old
        listener.stop()
