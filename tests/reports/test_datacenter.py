"""Data-centre optimisation figures from a synthetic month of host data with known utilisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from probes.result import ProbeResult, Series
from reports.datacenter import Rules, host_figures, judge, linear_fit, stats
from store import db as st

BOGOTA = ZoneInfo("America/Bogota")
START = datetime(2025, 1, 1, 5, tzinfo=UTC)  # 1 January, 00:00 in Bogotá


def test_stats_and_fit() -> None:
    s = stats([float(i) for i in range(1, 101)])
    assert (s.mean, s.p95, s.max, s.samples) == (50.5, 95.0, 100.0, 100)
    assert linear_fit([(0, 0.5), (1, 0.52), (2, 0.54)]) == pytest.approx(0.02)
    assert linear_fit([(1, 0.5)]) is None


def test_a_month_of_three_hosts(tmp_path: Path) -> None:
    store = st.Store(f"sqlite:///{tmp_path}/v.db", "cdc")
    store.migrate()
    batch = []
    for hour in range(30 * 24):  # one sample an hour for 30 days
        at = START + timedelta(hours=hour)
        day = hour // 24
        # idle: CPU 2-6 %, memory 20 %; busy: CPU 85-95 %; growing: "/" fills 1 point a day from 50 %.
        idle_cpu = 0.02 + 0.04 * (hour % 2)
        batch.append(
            ProbeResult(
                "idle",
                "node",
                at,
                0.1,
                True,
                values={"cpu_utilisation_ratio": idle_cpu, "memory_utilisation_ratio": 0.20},
            )
        )
        batch.append(
            ProbeResult(
                "busy",
                "node",
                at,
                0.1,
                True,
                values={"cpu_utilisation_ratio": 0.85 + 0.10 * (hour % 2), "memory_utilisation_ratio": 0.60},
            )
        )
        used = 0.50 + 0.01 * day
        mount = (("device", "/dev/sda1"), ("fstype", "ext4"), ("mountpoint", "/"))
        batch.append(
            ProbeResult(
                "growing",
                "host",
                at,
                0.1,
                True,
                values={"cpu_utilisation_ratio": 0.40, "memory_utilisation_ratio": 0.50},
                series=(
                    Series("filesystem_utilisation_ratio", mount, used),
                    Series("filesystem_size_bytes", mount, 100e9),
                ),
            )
        )
    store.write_cycle(batch, [], 0.0)
    figs = host_figures(
        store.reader(),
        ["idle", "busy", "growing"],
        START.timestamp(),
        (START + timedelta(days=31)).timestamp(),
        BOGOTA,
    )
    store.close()
    idle, busy, growing = figs["idle"], figs["busy"], figs["growing"]
    assert idle.cpu.mean == pytest.approx(0.04) and idle.cpu.p95 == pytest.approx(0.06) and idle.cpu.samples == 720
    assert idle.verdicts == ["underused"]
    assert busy.cpu.p95 == pytest.approx(0.95) and busy.cpu.max == pytest.approx(0.95)
    assert busy.verdicts == ["saturated"]
    root = growing.filesystems["/"]
    assert root.slope_per_day == pytest.approx(0.01)
    assert root.days_to_full == pytest.approx((1 - 0.79) / 0.01)  # 21 days from the last daily maximum
    assert root.size_bytes == 100e9
    assert growing.verdicts == ["filesystem_filling:/"]
    # The rules are configurable: with a 10-day horizon "/" is no longer flagged.
    assert "filesystem_filling:/" not in judge(growing, Rules(filesystem_warning_days=10))
