"""Zone agents' batches into a real daemon over HTTP: stored once, acknowledged by sequence, and
every bad input refused with its status and reason, nothing of it stored, /metrics unaffected."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from tests.agentcentre import centre_config
from tests.conftest import need_root
from tests.vigiaproc import VigiaProcess

CONFIG = centre_config("""  - id: ZD-01
    name: Plaza
    lat: 10.4
    lon: -75.5
    gateway: 127.0.0.1
    agent:
      interval: 30s
      gateway: 192.168.50.1
      dns: {name: portal.zonas.test, expect_answers: [192.168.50.10]}
      portal_url: http://192.168.50.10/
      portal_text: Bienvenido
      anchors: [198.51.100.1, "http://198.51.100.2/"]
  - {id: ZD-02, name: Parque, lat: 10.4, lon: -75.5, gateway: 127.0.0.1}
""")


@pytest.fixture
def centre(tmp_path: Path) -> Iterator[VigiaProcess]:
    need_root()  # the zones' gateway checks are ICMP
    proc = VigiaProcess(CONFIG, tmp_path)
    proc.start().wait_ready()
    yield proc
    proc.stop()


def token_for(proc: VigiaProcess, zone: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["agent", "add", zone, "--config", str(proc.config)]) == 0
    return capsys.readouterr().out.strip()


def body(zone: str, seqs: range, *, sent_at: float | None = None, ahead: float = 0.0, **extra: object) -> bytes:
    now = time.time() if sent_at is None else sent_at
    results = [{"seq": s, "at": now - 100 + s + ahead, "check": "gateway", "probe": "icmp", "success": True,
                "duration": 0.01, "values": {"loss_ratio": 0.0, "rtt_avg_seconds": 0.002}} for s in seqs]  # fmt: skip
    return json.dumps({"zone": zone, "version": "1.0", "sent_at": now, "boot_time": now - 3600,
                       "clock_synced": True, "results": results, **extra}).encode()  # fmt: skip


def post(proc: VigiaProcess, zone: str, data: bytes, token: str | None, **headers: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
    try:
        h = {"Content-Type": "application/json", **headers}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        conn.request("POST", f"/api/v1/agents/{zone}/results", body=data, headers=h)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def stored(proc: VigiaProcess) -> list[tuple[str, int]]:
    with sqlite3.connect(proc.tmp / "state" / "vigia.db") as db:
        return db.execute("SELECT zone, seq FROM agent_results ORDER BY zone, seq").fetchall()


def test_a_batch_is_stored_once_and_acknowledged(centre: VigiaProcess, capsys: pytest.CaptureFixture[str]) -> None:
    token = token_for(centre, "ZD-01", capsys)
    status, answer = post(centre, "ZD-01", gzip.compress(body("ZD-01", range(1, 11))), token,
                          **{"Content-Encoding": "gzip"})  # fmt: skip
    assert (status, answer["stored"], answer["duplicates"], answer["ack"]) == (200, 10, 0, 10)
    status, answer = post(centre, "ZD-01", body("ZD-01", range(5, 16)), token)  # a replay, and five more
    assert (status, answer["stored"], answer["duplicates"], answer["ack"]) == (200, 5, 6, 15)
    assert stored(centre) == [("ZD-01", s) for s in range(1, 16)]
    assert main(["agent", "list", "--config", str(centre.config)]) == 0
    listing = capsys.readouterr().out
    assert "ZD-01\tlive\t" in listing and "\t15\t" in listing
    # The agent's clock five minutes ahead: its times are corrected, the skew recorded.
    now = time.time()
    status, answer = post(centre, "ZD-01", body("ZD-01", range(16, 17), sent_at=now + 300), token)
    assert status == 200 and answer["offset"] == pytest.approx(-300, abs=5)
    with sqlite3.connect(centre.tmp / "state" / "vigia.db") as db:
        ts = db.execute("SELECT ts FROM agent_results WHERE seq = 16").fetchone()[0]
        skew = db.execute("SELECT skew_seconds FROM agents WHERE zone = 'ZD-01'").fetchone()[0]
    assert ts == pytest.approx(now - 100 + 16, abs=5) and skew == pytest.approx(-300, abs=5)


def test_every_bad_input_is_refused_with_its_reason_and_nothing_stored(
    centre: VigiaProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = token_for(centre, "ZD-01", capsys), token_for(centre, "ZD-02", capsys)
    good = body("ZD-01", range(1, 3))
    assert post(centre, "ZD-01", good, None)[0] == 401
    assert post(centre, "ZD-01", good, one[:-2] + "xx")[0] == 401
    status, answer = post(centre, "ZD-01", good, two)
    assert (status, answer["error"]) == (403, "forbidden")
    assert post(centre, "ZD-02", good, two)[0] == 403  # the URL's zone, the body's another
    status, answer = post(centre, "ZD-01", body("ZD-01", range(1, 2), surprise=1), one)
    assert (status, answer["error"]) == (400, "schema") and answer["detail"].startswith("surprise:")
    status, answer = post(centre, "ZD-01", b"\x00garbage", one)
    assert (status, answer["error"]) == (400, "schema")
    status, answer = post(centre, "ZD-01", body("ZD-01", range(1, 2), ahead=86400), one)
    assert status == 400 and answer["error"] == "time"  # measured a day after it was sent
    bomb = gzip.compress(b" " * (40 * 2**20))  # 40 MB of spaces in 40 kB
    status, answer = post(centre, "ZD-01", bomb, one, **{"Content-Encoding": "gzip"})
    assert (status, answer["error"]) == (413, "too_large")
    assert stored(centre) == []
    # A body larger than the cap is refused from its Content-Length, never read.
    conn = http.client.HTTPConnection("127.0.0.1", centre.port, timeout=5)
    conn.putrequest("POST", "/api/v1/agents/ZD-01/results")
    conn.putheader("Authorization", f"Bearer {one}")
    conn.putheader("Content-Length", str(50 * 2**20))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    # A flood from one agent: refused with 429 past its burst, while /metrics answers at once.
    codes = [post(centre, "ZD-01", good, one)[0] for _ in range(30)]
    assert 429 in codes and codes[0] == 200
    started = time.monotonic()
    assert centre.get("/metrics")[0] == 200 and time.monotonic() - started < 1.0
    assert stored(centre) == [("ZD-01", 1), ("ZD-01", 2)]
    centre.wait_for(lambda: centre.value("vigia_agent_results_ingested_total") == 2, timeout=5,
                    message="/metrics rendered after the batches")  # fmt: skip
    refused = {r: centre.value("vigia_agent_batches_refused_total", reason=r) for r in
               ("unauthorized", "forbidden", "schema", "time", "too_large", "rate")}  # fmt: skip
    assert refused["unauthorized"] == 2 and refused["forbidden"] == 2 and refused["schema"] == 2
    assert refused["time"] == 1 and refused["too_large"] == 1 and (refused["rate"] or 0) >= 1
    # Revoked: refused once the token cache has moved on (within 10 s).
    assert main(["agent", "revoke", "ZD-02", "--config", str(centre.config)]) == 0
    centre.wait_for(lambda: post(centre, "ZD-02", body("ZD-02", range(1, 2)), two)[0] == 401, timeout=15,
                    message="revoked token refused")  # fmt: skip


def test_an_agent_fetches_its_checks_with_an_etag(centre: VigiaProcess, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = token_for(centre, "ZD-01", capsys), token_for(centre, "ZD-02", capsys)

    def get(zone: str, token: str, **headers: str) -> tuple[int, bytes, str]:
        conn = http.client.HTTPConnection("127.0.0.1", centre.port, timeout=5)
        conn.request("GET", f"/api/v1/agents/{zone}/checks", headers={"Authorization": f"Bearer {token}", **headers})
        resp = conn.getresponse()
        out = (resp.status, resp.read(), resp.getheader("ETag") or "")
        conn.close()
        return out

    status, doc, etag = get("ZD-01", one)
    checks = {c["check"]: c for c in json.loads(doc)["checks"]}
    assert status == 200 and etag
    assert list(checks) == ["gateway", "dns", "portal", "internet:198.51.100.1", "internet:http://198.51.100.2/"]
    assert checks["dns"]["settings"]["server"] == "192.168.50.1"  # the gateway when no resolver is named
    assert checks["portal"]["settings"] == {"url": "http://192.168.50.10/", "body_regex": "Bienvenido"}
    assert checks["gateway"]["interval"] == 30.0
    assert get("ZD-01", one, **{"If-None-Match": etag})[0] == 304
    assert get("ZD-01", two)[0] == 403 and get("ZD-01", "nope")[0] == 401
    assert get("ZD-02", two)[0] == 404  # a zone without an agent: section


LATE_CONFIG = centre_config("""  - id: ZD-01
    name: Plaza
    lat: 10.4
    lon: -75.5
    gateway: 127.0.0.1
    agent: {interval: 2s, gateway: 192.168.50.1, anchors: [198.51.100.1]}
""")


def test_a_late_batch_folds_into_the_zones_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The centre saw the zone fine (its gateway answers); the agent's spool, delivered late, says
    the internet was unreachable from inside for ten seconds: the daemon judges that span again on
    its next cycle, and the zone's history holds the outage with its measured cause."""
    need_root()
    proc = VigiaProcess(LATE_CONFIG, tmp_path)
    proc.start().wait_ready()
    try:
        token = token_for(proc, "ZD-01", capsys)
        t0 = time.time()
        # The cut (seconds 5 to 15) over, and past domain.vantage.late_after (1.5 x 2 s + 5 s): late.
        time.sleep(20.0)
        now = time.time()
        results = []
        for i, at in enumerate(range(int(t0) + 1, int(now))):
            down = t0 + 5 <= at < t0 + 15
            results += [
                {"seq": 2 * i + 1, "at": at, "check": "gateway", "probe": "icmp", "success": True, "duration": 0.01},
                {"seq": 2 * i + 2, "at": at, "check": "internet:198.51.100.1", "probe": "icmp", "success": not down,
                 "duration": 0.01},
            ]  # fmt: skip
        data = json.dumps({"zone": "ZD-01", "version": "1.0", "sent_at": now, "boot_time": t0 - 3600,
                           "clock_synced": True, "results": results}).encode()  # fmt: skip
        status, answer = post(proc, "ZD-01", data, token)
        assert status == 200 and answer["stored"] == len(results)

        def periods() -> list[tuple[str, float, float, str]]:
            with sqlite3.connect(proc.tmp / "state" / "vigia.db") as db:
                return db.execute(
                    "SELECT kind, started_at, ended_at, reason FROM outages WHERE target = 'ZD-01'"
                ).fetchall()

        proc.wait_for(lambda: bool(periods()), timeout=15, message="the late span judged again")
        [(kind, start, end, reason)] = periods()
        assert (kind, reason) == ("down", "agent_enlace")
        assert end - start == pytest.approx(10.0, abs=2.5)  # within a cycle and a result of the cut
        assert t0 + 4 <= start <= t0 + 8
    finally:
        proc.stop()


def test_hundreds_of_hanging_uploads_delay_neither_scrapes_nor_a_real_batch(
    centre: VigiaProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three hundred agents' uploads stall after their headers (a backhaul dying mid-send), from a
    hundred addresses: each waits on its own deadline; /metrics answers and a real batch is stored
    meanwhile, and the daemon takes no thread per stalled upload."""
    import socket

    token = token_for(centre, "ZD-01", capsys)
    head = (b"POST /api/v1/agents/ZD-01/results HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 1000000\r\n\r\n")  # fmt: skip
    stalled: list[socket.socket] = []
    try:
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", centre.port), timeout=5,
                                         source_address=(f"127.0.1.{i % 100 + 1}", 0))  # fmt: skip
            s.sendall(head + b'{"zone"')
            stalled.append(s)
        threads = len(os.listdir(f"/proc/{centre.proc.pid}/task"))  # type: ignore[union-attr]
        for _ in range(5):
            status, page = centre.get("/metrics")
            assert status == 200 and b"vigia_agent_results_ingested_total" in page
        status, answer = post(centre, "ZD-01", body("ZD-01", range(1, 4)), token)
        assert status == 200 and answer["stored"] == 3
        assert threads < 60, threads  # no thread waits on a stalled body
    finally:
        for s in stalled:
            s.close()
    assert stored(centre) == [("ZD-01", 1), ("ZD-01", 2), ("ZD-01", 3)]
