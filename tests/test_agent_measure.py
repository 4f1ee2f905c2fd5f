"""The agent's measuring loop (monitor/agent/measure.py) keeps its checks' rhythm: a check every
interval, not every interval plus however late the loop woke, and no burst after a long cycle."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from pathlib import Path

from monitor.agent.checks import targets_of
from monitor.agent.measure import Measure
from store.outbox import Outbox


def closed_port() -> int:
    with socket.socket() as s:  # bound then released: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cycles(tmp_path: Path, interval: float, seconds: float, check: dict[str, object] | None = None) -> list[float]:
    """Run the loop for ``seconds`` on one check (a TCP check of a closed loopback port, answered at
    once, unless ``check`` says otherwise); each cycle's start."""
    tcp = {"probe": "tcp", "timeout": 0.2, "settings": {"host": "127.0.0.1", "port": closed_port()}}
    doc = {"checks": [{"check": "gateway", "interval": interval, **(check or tcp)}]}
    targets = targets_of(json.dumps(doc).encode())
    assert [t.id for t in targets] == ["gateway"]
    outbox = Outbox(tmp_path / "outbox.db")
    stop = threading.Event()
    measure = Measure(outbox, lambda: targets, stop)
    loop = threading.Thread(target=measure.loop)
    loop.start()
    time.sleep(seconds)
    stop.set()
    loop.join(timeout=10)
    assert not loop.is_alive()
    got = outbox.pending(10_000, 10_000_000).results
    outbox.close()
    assert all(r["check"] == "gateway" and r["success"] is False for r in got)  # failing targets are data
    return sorted(float(r["at"]) for r in got)  # type: ignore[arg-type]


def test_checks_start_every_interval_not_every_interval_plus_the_loops_lateness(tmp_path: Path) -> None:
    starts = cycles(tmp_path, 0.25, 3.0)
    # 12 cycles in 3 s (one may be lost to a loaded machine's scheduling); timed from a late wake-up
    # on a 0.2 s poll, as before, they came every 0.4 s: 8.
    assert 11 <= len(starts) <= 13, starts
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert sorted(gaps)[len(gaps) // 2] < 0.3, gaps  # the median gap is the interval


def test_a_cycle_longer_than_its_interval_skips_and_does_not_burst(tmp_path: Path) -> None:
    # A server that takes the connection and never answers: each HTTP check lasts its whole 0.5 s
    # deadline, over two of its 0.2 s intervals. The cycles due meanwhile are skipped, and none of
    # them is run afterwards to catch up: every start is at least the check's deadline after the last.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the handshakes; nobody reads
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        starts = cycles(tmp_path, 0.2, 2.5, {"probe": "http", "timeout": 0.5, "settings": {"url": url}})
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) >= 3 and min(gaps) >= 0.5, gaps
    assert len(starts) <= 5, starts  # 2.5 s of 0.6 s rounds (the deadline, then the next due tick)
