"""Capacity of the probe engine: sockets, open files and spread starts, with errors that name the numbers."""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import config as cfg
from kernel.errors import ConfigError
from monitor.runtime.cycle import spread_window
from probes.engine import GRACE, RESERVED_FDS, spread_offset
from tests.vigiaproc import ROOT


def tcp_targets(n: int) -> str:
    return "".join(f"  - {{id: t{i}, probe: tcp, tcp: {{host: 127.0.0.1, port: 9}}}}\n" for i in range(n))


def test_more_sockets_than_max_in_flight_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "probing:\n  max_in_flight: 10\n"
        "targets:\n" + tcp_targets(9) + "  - {id: scan, probe: ports, ports: {host: 127.0.0.1, ports: [22, 80, 443]}}\n"
    )
    with pytest.raises(ConfigError) as err:
        cfg.parse(str(path))
    text = str(err.value)
    assert f"{path}:2" in text and "max_in_flight" in text
    assert "10 checks may hold 12 sockets" in text and "(10)" in text
    path.write_text("probing:\n  max_in_flight: 12\ntargets:\n" + tcp_targets(12))
    assert len(cfg.parse(str(path)).targets) == 12


def test_default_holds_ten_thousand_checks(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("targets:\n" + tcp_targets(10_000))
    conf = cfg.parse(str(path))
    assert conf.probing.max_in_flight >= 10_000


def run_vigia_with_nofile(tmp_path: Path, config: str, limit: tuple[int, int]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.yml"
    path.write_text(config)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, limit)

    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(path), "--state-dir", str(tmp_path / "s"),
         "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, cwd=str(ROOT), preexec_fn=cap, check=False,
    )  # fmt: skip


def test_a_load_the_open_files_limit_cannot_hold_refuses_to_start(tmp_path: Path) -> None:
    config = "defaults: {interval: 5s, timeout: 1s}\nweb: {max_connections: 10}\ntargets:\n" + tcp_targets(200)
    out = run_vigia_with_nofile(tmp_path, config, (300, 300))
    assert out.returncode == 1, out.stderr
    assert "may hold 200 sockets" in out.stderr and "10 connections to the listeners" in out.stderr
    # The checks, the connections the listener may hold, and the daemon's own descriptors.
    assert f"needs {200 + 10 + RESERVED_FDS} open files" in out.stderr and "the limit is 300" in out.stderr
    assert "LimitNOFILE" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_soft_open_files_limit_is_raised_to_the_hard_one() -> None:
    code = (
        "import resource; from probes.engine import raise_open_files_limit;"
        "print(*raise_open_files_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=30, cwd=str(ROOT), check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096)),
    )  # fmt: skip
    assert out.stdout.split() == ["4096", "4096", "4096", "4096"]


def test_starts_are_spread_stably_within_the_window() -> None:
    offsets = [spread_offset(f"ZD-{i:02d}-portal", 5.0) for i in range(1000)]
    assert all(0 <= o < 5.0 for o in offsets)
    assert max(offsets) - min(offsets) > 4.5  # spread over the window, not bunched
    assert offsets == [spread_offset(f"ZD-{i:02d}-portal", 5.0) for i in range(1000)]  # same every cycle
    assert spread_offset("x", 0.0) == 0.0


def test_spread_window_never_pushes_a_check_past_its_interval() -> None:
    assert spread_window(60, 10, None) == 6.0  # a tenth of the interval by default
    assert spread_window(600, 10, None) == 10.0  # at most 10 s
    assert spread_window(60, 10, 0.5) == 0.5
    assert spread_window(10, 9, 5.0) == pytest.approx(10 - 9 - GRACE)
    assert spread_window(1, 0.9, None) == 0.0


def test_max_in_flight_bounds_sockets_and_says_so_when_a_check_cannot_start() -> None:
    from probes import result as r
    from probes.engine import Check, ProbeEngine
    from probes.http import HttpSettings
    from probes.tcp import TcpSettings
    from tests.servers import peers

    engine = ProbeEngine(max_in_flight=4)
    try:
        with peers() as ports:
            mute = [
                Check(f"m{i}", "http", HttpSettings(url=f"http://127.0.0.1:{ports['mute']}/"), 0.6) for i in range(4)
            ]
            ssh = TcpSettings(host="127.0.0.1", port=ports["banner"], expect="^SSH")
            out = engine.run([*mute, Check("late", "tcp", ssh, 0.3)])
            late = out.results[-1]
            assert late.reason == r.OVERRUN and "max_in_flight (4)" in late.message
            out = engine.run([*mute, Check("waits", "tcp", ssh, 2.0)])
            assert out.results[-1].success, out.results[-1]  # started once a slot came back
        assert engine.peak_in_flight == 4
    finally:
        engine.close()


def test_spread_starts_go_in_waves_in_offset_order_each_check_on_its_own_clock() -> None:
    from probes import result as r
    from probes.engine import WAVE, Check, ProbeEngine
    from probes.http import HttpSettings
    from probes.tcp import TcpSettings
    from tests.servers import peers

    engine = ProbeEngine()
    try:
        with peers() as ports:
            tcp = TcpSettings(host="127.0.0.1", port=ports["banner"])
            # Listed last-first, offsets 0-0.78 s; one mute peer's check at 0.3 s hangs to its deadline.
            checks = [Check(f"t{i}", "tcp", tcp, 1.0, offset=i * 0.02) for i in reversed(range(40))]
            mute = HttpSettings(url=f"http://127.0.0.1:{ports['mute']}/")
            checks.append(Check("mute", "http", mute, 0.4, offset=0.3))
            t0 = time.time()
            out = engine.run(checks)
    finally:
        engine.close()
    by_id = {res.target: res for res in out.results}
    assert [res.target for res in out.results] == [c.target for c in checks]  # results in the order given
    assert by_id["mute"].reason == r.TIMEOUT and by_id["mute"].duration == pytest.approx(0.4, abs=0.1)
    starts = {c.target: by_id[c.target].started_at.timestamp() - t0 for c in checks}
    for c in checks:  # no earlier than its wave, and not a wave late
        wave = math.floor(c.offset / WAVE) * WAVE  # the engine's own rounding
        assert wave - 0.01 <= starts[c.target] <= wave + WAVE, (c, starts[c.target])
    waves = {round(s / WAVE) for s in starts.values()}
    assert len(waves) >= 14  # spread over the window's 16 waves, not all at once
    ordered = sorted(starts, key=lambda t: (starts[t], int(t[1:]) if t != "mute" else 15))
    assert [t for t in ordered if t != "mute"] == [f"t{i}" for i in range(40)]  # in offset order
    assert all(res.success for res in out.results if res.target != "mute")
