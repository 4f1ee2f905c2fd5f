"""Maintenance windows: recurring (cron + duration, in the configured timezone) and absolute."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import config as cfg
from domain.state import State
from domain.windows import active_window
from tests.vigiaproc import daemon_in_process

CONFIG = """
timezone: America/Bogota
targets:
  - {id: core, probe: tcp, group: datacenter, tcp: {host: 127.0.0.1, port: 9}}
  - {id: web, probe: tcp, group: web, tcp: {host: 127.0.0.1, port: 9}}
maintenance:
  - {id: sunday, groups: [datacenter], cron: "0 2 * * sun", duration: 2h, reason: Ventana semanal}
  - {id: ups, targets: [web], start: 2025-03-01 22:00:00, end: 2025-03-02 02:00:00}
"""


def parse(tmp_path: Path, text: str = CONFIG) -> cfg.Config:
    path = tmp_path / "c.yml"
    path.write_text(text)
    return cfg.parse(str(path), state_dir=str(tmp_path / "state"))


def at(local: str) -> datetime:
    # Bogotá is UTC-5 all year (no daylight saving).
    return datetime.fromisoformat(local).replace(tzinfo=UTC) + timedelta(hours=5)


def test_recurring_window_in_local_time(tmp_path: Path) -> None:
    conf = parse(tmp_path)
    w = conf.maintenance
    assert active_window(w, "core", at("2025-03-02 01:59:59")) is None  # a Sunday, before 02:00 local
    assert active_window(w, "core", at("2025-03-02 02:00:00")).id == "sunday"
    assert active_window(w, "core", at("2025-03-02 03:59:59")).id == "sunday"
    assert active_window(w, "core", at("2025-03-02 04:00:00")) is None
    assert active_window(w, "core", at("2025-03-03 02:30:00")) is None  # a Monday
    assert active_window(w, "web", at("2025-03-09 02:30:00")) is None  # not in that group


def test_absolute_window(tmp_path: Path) -> None:
    w = parse(tmp_path).maintenance
    assert active_window(w, "web", at("2025-03-01 21:59:59")) is None
    assert active_window(w, "web", at("2025-03-01 23:00:00")).id == "ups"
    assert active_window(w, "web", at("2025-03-02 02:00:00")) is None


def test_daemon_records_maintenance_not_downtime(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    end = (now + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    text = (
        "defaults: {interval: 5s, timeout: 1s, failures_before_down: 1}\n"
        "targets:\n  - {id: web, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        f"maintenance:\n  - {{id: now, targets: [web], start: {start}, end: {end}}}\n"
    )
    with daemon_in_process(text, tmp_path) as daemon:
        daemon.run_cycle(5.0)
        daemon.run_cycle(5.0)
        assert daemon.runtime.observer.states["web"].state == State.MAINTENANCE
        assert 'vigia_target_state{state="maintenance",target="web"} 1.0' in daemon.exposition.body().decode()
    db = sqlite3.connect(tmp_path / "state" / "vigia.db")
    rows = db.execute("select kind, ended_at from outages where target='web'").fetchall()
    assert rows == [("maintenance", None)]
