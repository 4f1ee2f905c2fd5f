"""The agent against a centre on a bad day: one that hangs, resets, speaks garbage, answers 5xx or
answers 200 without being the centre (a captive portal intercepting the zone's traffic). Each costs
an attempt within the agent's timeout and a backoff with jitter, never a spooled row; the real
centre's acknowledgement then empties the outbox. The hostile peers are real servers on loopback."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from monitor.agent.centre import Centre
from monitor.agent.push import BACKOFF_FIRST, Identity, Pusher
from monitor.agent.settings import AgentFile
from store.outbox import Outbox
from tests.servers import tcp_server


def _http(status: int, body: bytes) -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body


PEERS = {
    "hangs": None,  # accepts, reads, never answers
    "resets": b"",  # closes at once
    "garbage": b"\x00\xff SSH-2.0-OpenSSH_9.2p1\r\n",
    "error_503": _http(503, b'{"reason": "store"}'),
    "portal_200": _http(200, b"<html>Bienvenido a la Zona Digital: acepte los terminos</html>"),
    "json_200_no_ack": _http(200, b'{"stored": 5}'),
    "bool_ack": _http(200, b'{"ack": true}'),
}


def _serve(answer: bytes | None):  # type: ignore[no-untyped-def]
    def on_connect(conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            conn.recv(65536)
            if answer is None:
                time.sleep(3)  # past the agent's timeout
            elif answer:
                conn.sendall(answer)
        except OSError:
            pass
        finally:
            conn.close()

    return on_connect


def _pusher(tmp_path: Path, port: int) -> tuple[Pusher, Outbox]:
    token = tmp_path / "token"
    token.write_text("t" * 40)
    settings = AgentFile(zone="ZD-01", centre=[f"http://127.0.0.1:{port}"], token_file=str(token),  # type: ignore[list-item]
                         state_dir=str(tmp_path), timeout=1.0)  # type: ignore[arg-type]  # fmt: skip
    box = Outbox(tmp_path / "outbox.db")
    box.put([{"at": time.time() - 60 + i, "check": "gateway", "success": True} for i in range(5)])
    return Pusher(box, Centre(settings), Identity("ZD-01", "test", 0.0, True)), box


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_a_centre_on_a_bad_day_costs_an_attempt_never_a_row(tmp_path: Path, peer: str) -> None:
    with tcp_server(_serve(PEERS[peer])) as (port, _):
        pusher, box = _pusher(tmp_path, port)
        waits = []
        for _ in range(3):
            t0 = time.monotonic()
            waits.append(pusher.push_once())
            assert time.monotonic() - t0 < 2.5, "one attempt stays within the agent's timeout"
            assert box.backlog().rows == 5, "every spooled row kept"
    # Backoff with jitter: each wait within [0.5, 1] of a base that doubles with each failure.
    for k, wait in enumerate(waits, start=1):
        base = BACKOFF_FIRST * 2.0**k
        assert 0.5 * base <= wait <= base, (k, wait)


def test_the_centres_acknowledgement_forgets_the_batch_and_never_more(tmp_path: Path) -> None:
    """An ack past the batch (a centre that heard later rows elsewhere) forgets this batch alone."""
    with tcp_server(_serve(_http(200, json.dumps({"ack": 2**62}).encode()))) as (port, _):
        pusher, box = _pusher(tmp_path, port)
        pusher.limit = 3
        assert pusher.push_once() == 0.0
        assert box.backlog().rows == 2  # the batch of three went, the two after it wait their turn
