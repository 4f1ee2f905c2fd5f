"""Ports probe: only the configured ports are tried; an open port outside the allowed list fails."""

from __future__ import annotations

import time

from probes.ports import UNEXPECTED_OPEN, PortsSettings
from tests.conftest import free_port
from tests.probing import on_engine
from tests.servers import tcp_server

probe = on_engine("ports")


def test_open_port_outside_the_allowed_list() -> None:
    closed = free_port()
    with tcp_server(lambda c: None) as (web, _), tcp_server(lambda c: None) as (db, accepted):
        ok = probe(
            "srv", PortsSettings(host="127.0.0.1", ports=[web, closed], allowed=[web]), deadline=time.monotonic() + 2
        )
        assert ok.success, ok.message
        assert {dict(s.labels)["port"]: s.value for s in ok.series} == {str(web): 1.0, str(closed): 0.0}
        assert accepted[0] == 0, "a port that is not listed is never tried"
        bad = probe(
            "srv",
            PortsSettings(host="127.0.0.1", ports=[web, db, closed], allowed=[web]),
            deadline=time.monotonic() + 2,
        )
    assert not bad.success and bad.reason == UNEXPECTED_OPEN
    assert str(db) in bad.message and bad.values["unexpected_open_ports"] == 1.0
