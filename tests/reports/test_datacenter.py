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


# A month frozen before the figures were typed (a dict written by the previous release): it must
# still read back into the typed shape, and a snapshot that no longer fits is refused by field.
OLD_SNAPSHOT = {
    "window": [1735707600.0, 1738386000.0],
    "rules": {"underused_cpu_p95": 0.1, "underused_memory_p95": 0.3, "saturated_p95": 0.8,
              "filesystem_warning_days": 90.0, "availability_target": 0.995},
    "hosts": [{
        "target": "db", "role": "base de datos", "cpu": {"mean": 0.9, "p95": 0.95, "max": 0.97, "samples": 720},
        "memory": None, "network_bps": None, "network_util": None,
        "capacity": {"vcpus": 16, "memory_bytes": None, "disk_bytes": 1e11, "link_bps": None},
        "filesystems": [{"mountpoint": "/", "mean": 0.6, "p95": 0.7, "max": 0.8, "size_bytes": 1e11,
                         "slope_per_day": 0.01, "days_to_full": 20.0}],
        "availability": {"scheduled_seconds": 2678400.0, "hours": None, "availability": 0.99,
                         "downtime_seconds": 600.0, "maintenance_seconds": 0.0, "coverage": 1.0, "incidents": 2,
                         "mttr_seconds": 300.0},
        "verdicts": ["saturated", "filesystem_filling:/"],
    }],
    "services": [],
    "top_cpu": ["db"], "top_memory": [],
    "top_filesystems": [{"target": "db", "mountpoint": "/", "mean": 0.6, "p95": 0.7, "max": 0.8, "size_bytes": 1e11,
                         "slope_per_day": 0.01, "days_to_full": 20.0}],
    "recommendations": [{"kind": "redundancy", "control": "A.8.14", "asset": "db",
                         "figures": {"availability": 0.99, "target": 0.995, "downtime_seconds": 600.0,
                                     "incidents": 2}}],
    "summary": {"hosts": 1, "underused": 0, "saturated": 1, "cpu_p95_mean": 0.95, "memory_p95_mean": None,
                "service_availability": None},
}  # fmt: skip


def test_a_month_frozen_by_the_previous_release_reads_back_typed() -> None:
    from kernel.errors import StoreError
    from reports.datacenter_month import DatacenterMonth
    from reports.shape import from_json, to_json

    month = from_json(DatacenterMonth, OLD_SNAPSHOT)
    assert month.hosts[0].cpu is not None and month.hosts[0].cpu.p95 == 0.95
    assert month.hosts[0].filesystems[0].days_to_full == 20.0
    assert month.recommendations[0].figures["incidents"] == 2  # a count stays a count (printed "2", not "2.0")
    assert isinstance(month.recommendations[0].figures["incidents"], int)
    again = to_json(month)
    assert again["hosts"][0]["verdicts"] == OLD_SNAPSHOT["hosts"][0]["verdicts"]  # type: ignore[index]
    assert from_json(DatacenterMonth, again) == month
    broken = {**OLD_SNAPSHOT, "summary": {"hosts": "muchos"}}
    with pytest.raises(StoreError, match=r"DatacenterMonth does not fit its shape at summary\.hosts: Input should"):
        from_json(DatacenterMonth, broken)
