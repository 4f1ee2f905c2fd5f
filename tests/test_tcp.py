"""TCP probe against real sockets."""

from __future__ import annotations

import socket
import threading
import time

from probes import result as r
from probes.tcp import TcpSettings
from tests.conftest import free_port
from tests.probing import on_engine
from tests.servers import tcp_server

probe = on_engine("tcp")


def test_connect_and_banner() -> None:
    def greet(conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    with tcp_server(greet) as (port, _):
        res = probe("ssh", TcpSettings(host="127.0.0.1", port=port, expect="^SSH-2.0"), deadline=time.monotonic() + 2)
        assert res.success, res.message
        assert 0 < res.values["connect_seconds"] < 1
        res = probe("ssh", TcpSettings(host="127.0.0.1", port=port, expect="^SMTP"), deadline=time.monotonic() + 2)
        assert not res.success
        assert res.reason == r.BANNER_MISMATCH
        assert "SSH-2.0-OpenSSH_9.2" in res.message


def test_send_then_expect() -> None:
    def echo(conn: socket.socket) -> None:
        conn.settimeout(2)
        conn.sendall(conn.recv(100).upper())

    with tcp_server(echo) as (port, _):
        res = probe(
            "echo",
            TcpSettings(host="127.0.0.1", port=port, send="ping\n", expect="^PING"),
            deadline=time.monotonic() + 2,
        )
        assert res.success, res.message


def test_a_connect_check_connects_and_lets_go() -> None:
    # No send, no expect, no banner: the check is the connection, and the probe hangs up at once.
    ended: list[bytes | str] = []

    def hear(conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            ended.append(conn.recv(10))
        except OSError as exc:  # an abort is a reset
            ended.append(type(exc).__name__)

    with tcp_server(hear) as (port, accepted):
        res = probe("web", TcpSettings(host="127.0.0.1", port=port), deadline=time.monotonic() + 2)
        assert res.success, res.message
        assert 0 < res.values["connect_seconds"] < 1
        for _ in range(200):
            if ended:
                break
            time.sleep(0.01)
    assert accepted[0] == 1
    assert ended in ([b""], ["ConnectionResetError"])  # hung up, nothing sent


def test_refused() -> None:
    res = probe("closed", TcpSettings(host="127.0.0.1", port=free_port()), deadline=time.monotonic() + 2)
    assert not res.success
    assert res.reason == r.REFUSED


def test_peer_that_accepts_and_never_answers_is_bounded_by_the_deadline() -> None:
    hold = threading.Event()

    def silent(conn: socket.socket) -> None:
        hold.wait(10)

    with tcp_server(silent) as (port, accepted):
        t0 = time.monotonic()
        res = probe("mute", TcpSettings(host="127.0.0.1", port=port, expect="^220"), deadline=t0 + 0.5)
        elapsed = time.monotonic() - t0
        hold.set()
    assert accepted[0] == 1
    assert not res.success
    assert res.reason == r.TIMEOUT
    assert 0.45 < elapsed < 0.9


def test_unresolvable_host_is_dns() -> None:
    res = probe("x", TcpSettings(host="no-such-host.invalid", port=80), deadline=time.monotonic() + 2)
    assert res.reason == r.DNS
