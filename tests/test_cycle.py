"""The cycle owns the deadline: a probe that raises or hangs never holds up the others.

A real probe never raises and always honours its deadline, so these tests
register deliberately broken probe kinds: stand-ins for a future bug or a
library that swallows cancellation, which cannot be produced on purpose with
real peers. (Real hung peers, by the hundred, are in test_blackhole.py.)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import config as cfg
from monitor.runtime.cycle import GRACE, CycleRunner
from probes import REGISTRY, ProbeKind
from probes import result as r
from probes.result import ProbeResult
from probes.settings import Settings
from tests.conftest import need_root
from tests.vigiaproc import daemon_in_process

release = threading.Event()


class Empty(Settings, frozen=True):
    pass


async def raising(target: str, settings: Empty, *, deadline: float) -> ProbeResult:
    raise RuntimeError("bug in a probe")


async def hanging(target: str, settings: Empty, *, deadline: float) -> ProbeResult:
    # Ignores its deadline and even cancellation, as a wedged library might; bounded by 10 s.
    end = time.monotonic() + 10
    while not release.is_set() and time.monotonic() < end:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue
    raise RuntimeError("released")


async def overrunning(target: str, settings: Empty, *, deadline: float) -> ProbeResult:
    await asyncio.sleep(30)  # forgets its deadline, but can be cancelled like any coroutine
    raise RuntimeError("not reached")


@pytest.fixture(autouse=True)
def broken_kinds() -> Iterator[None]:
    release.clear()
    REGISTRY["raises"] = ProbeKind("raises", Empty, raising, ())
    REGISTRY["hangs"] = ProbeKind("hangs", Empty, hanging, ())
    REGISTRY["overruns"] = ProbeKind("overruns", Empty, overrunning, ())
    yield
    release.set()
    del REGISTRY["raises"], REGISTRY["hangs"], REGISTRY["overruns"]


def write(tmp_path: Path, text: str) -> cfg.Config:
    path = tmp_path / "c.yml"
    path.write_text(text)
    return cfg.parse(str(path), state_dir=str(tmp_path / "state"))


CONFIG = """
defaults: {interval: 1s, timeout: 600ms}
targets:
  - {id: lo, probe: icmp, icmp: {address: 127.0.0.1}}
  - {id: buggy, probe: raises}
  - {id: stuck, probe: hangs}
  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
"""


def test_raising_and_hanging_probes_do_not_touch_the_others(tmp_path: Path) -> None:
    need_root()
    conf = write(tmp_path, CONFIG)
    runner = CycleRunner()
    try:
        t0 = time.monotonic()
        out = runner.run(conf.targets)
        elapsed = time.monotonic() - t0
        by = {res.target: res for res in out.results}
        assert by["lo"].success
        assert by["closed"].reason == r.REFUSED
        assert by["buggy"].reason == r.INTERNAL and "bug in a probe" in by["buggy"].message
        assert by["stuck"].reason == r.TIMEOUT
        assert out.exceptions == 1
        assert elapsed < 0.6 + GRACE + 0.3
        # Still stuck on the next cycle: not probed again, reported as vigia's own overrun.
        out2 = runner.run(conf.targets)
        by2 = {res.target: res for res in out2.results}
        assert by2["stuck"].reason == r.OVERRUN
        assert by2["lo"].success
    finally:
        release.set()
        runner.close()


def test_daemon_counts_overruns_and_exceptions(tmp_path: Path) -> None:
    need_root()
    try:
        with daemon_in_process(CONFIG, tmp_path) as daemon:
            daemon.run_cycle(1.0)
            cycle = daemon.stats.cycles[1.0]
            assert cycle.runs == 1
            assert cycle.last_duration > 1.0  # 600 ms deadline + grace for the stuck probe
            assert cycle.overruns == 1
            assert daemon.stats.probe_exceptions == 1
            body = daemon.exposition.body().decode()
            assert 'vigia_cycle_overruns_total{interval="1s"} 1.0' in body
            assert "vigia_probe_exceptions_total 1.0" in body
    finally:
        release.set()


def test_an_overrunning_probe_is_cancelled_at_deadline_plus_grace(tmp_path: Path) -> None:
    conf = write(
        tmp_path,
        """
defaults: {interval: 2s, timeout: 400ms}
targets:
  - {id: late, probe: overruns}
  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
""",
    )
    runner = CycleRunner()
    try:
        for cycle in range(2):
            t0 = time.monotonic()
            out = runner.run(conf.targets)
            elapsed = time.monotonic() - t0
            by = {res.target: res for res in out.results}
            assert by["late"].reason == r.TIMEOUT, by["late"]
            assert by["closed"].reason == r.REFUSED
            assert 0.4 + GRACE - 0.05 <= elapsed < 0.4 + GRACE + 0.3
            # Cancelled for real: the next cycle probes it again instead of calling it an overrun.
            assert runner.engine.cancelled == cycle + 1
    finally:
        runner.close()
