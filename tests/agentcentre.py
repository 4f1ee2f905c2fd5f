"""A centre for the zone-agent tests: one daemon with a closed TCP target and the zones given."""

from __future__ import annotations


def centre_config(zones: str) -> str:
    """A centre's file on 1 s cycles; ``zones``: the entries under ``zones:``, indented two spaces."""
    return (
        "instance: centro\n"
        "state_dir: {state}\n"
        "defaults: {interval: 1s, timeout: 500ms}\n"
        "targets:\n"
        "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        "zones:\n" + zones
    )
