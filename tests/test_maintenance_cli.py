"""Maintenance windows from the command line: checked whole, kept with who, applied by the running
daemon from its next cycle without a reload, recorded as maintenance (out of the SLA)."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import config as cfg
from monitor.cli import main
from store.db import Store
from tests.conftest import free_port
from tests.servers import http_server
from tests.test_status_page import CONFIG, TZ, zones_and_states
from tests.vigiaproc import VigiaProcess


def maint(config: Path, *args: str) -> int:
    return main(["maintenance", *args, "--config", str(config)])


def stored(conf: cfg.Config, *, every: bool = True) -> list[object]:
    store = Store(conf.store_url(), conf.instance)
    try:
        store.migrate()
        return list(store.windows.listed(with_cancelled=every))
    finally:
        store.close()


def test_add_list_cancel_keeps_who(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf, _ = zones_and_states(tmp_path)
    config = tmp_path / "vigia.yml"
    assert maint(config, "add", "--zones", "ZD-01", "--targets", "ZD-02:portal", "--start", "2030-01-05 22:00",
                 "--end", "2030-01-06 04:00", "--reason", "Cambio del equipo de la zona") == 0  # fmt: skip
    assert "maintenance window 1 added" in capsys.readouterr().out
    [w] = stored(conf)
    assert w.zones == ("ZD-01",) and w.targets == ("ZD-02:portal",) and w.created_by  # type: ignore[attr-defined]
    assert datetime.fromtimestamp(w.start, TZ).strftime("%H:%M") == "22:00"  # type: ignore[attr-defined]  # Bogotá time
    assert maint(config, "list") == 0 and "\tahead\t2030-01-05 22:00\t" in capsys.readouterr().out
    assert maint(config, "cancel", "1") == 0
    assert maint(config, "list") == 0 and capsys.readouterr().out.strip().endswith("cancelled")
    assert maint(config, "list", "--all") == 0 and "\tcancelled\t" in capsys.readouterr().out
    assert maint(config, "cancel", "1") == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--zones", "ZD-99"], "unknown zone(s) or target(s) ZD-99"),
        (["--targets", "nope"], "unknown zone(s) or target(s) nope"),
        (["--zones", "ZD-01,ZD-01"], "listed twice"),
        (["--zones", "ZD-01", "--end", "2030-01-05 21:00"], "the end must be after the start"),
        (["--zones", "ZD-01", "--start", "mañana"], "is not a date and time"),
        (["--zones", "ZD-01", "--reason", "r" * 201], "at most 200"),
        ([], "no zone or target given"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    conf, _ = zones_and_states(tmp_path)
    base = {"--start": "2030-01-05 22:00", "--end": "2030-01-06 04:00", "--reason": "Obra"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = [x for k, v in {**base, **given}.items() for x in (k, v)]
    assert maint(tmp_path / "vigia.yml", "add", *argv) == 2
    err = capsys.readouterr().err
    assert says in err and "nothing was stored" in err
    assert stored(conf) == []


def test_the_same_window_twice_is_refused(tmp_path: Path) -> None:
    conf, _ = zones_and_states(tmp_path)
    args = ["add", "--zones", "ZD-01", "--start", "2030-01-05 22:00", "--end", "2030-01-06 04:00", "--reason", "x"]
    assert maint(tmp_path / "vigia.yml", *args) == 0
    assert maint(tmp_path / "vigia.yml", *args) == 2
    assert len(stored(conf)) == 1


def test_the_running_daemon_applies_a_window_without_a_reload(tmp_path: Path) -> None:
    with http_server({"/": lambda _h: (200, {}, b"portal")}) as portal:
        status = free_port()
        vigia = VigiaProcess(CONFIG % {"status": status, "directory": "null", "portal": portal.port}, tmp_path)
        vigia.start()
        try:
            vigia.wait_ready(timeout=30)

            def zone_state(zone: str) -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{status}/status.json") as resp:
                    return str({z["id"]: z["state"] for z in json.loads(resp.read())["zones"]}[zone])

            vigia.wait_for(lambda: zone_state("ZD-01") == "up", timeout=20, message="ZD-01 up")
            now = datetime.now(TZ)
            start, end = (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"), (now + timedelta(hours=1))
            assert maint(vigia.config, "add", "--zones", "ZD-01", "--start", start,
                         "--end", end.strftime("%Y-%m-%d %H:%M"), "--reason", "Cambio de equipo") == 0  # fmt: skip
            vigia.wait_for(lambda: zone_state("ZD-01") == "maintenance", timeout=20, message="window applied")
            assert vigia.value("vigia_zone_status", zone="ZD-01", status="maintenance") in (1.0, None)
            assert maint(vigia.config, "cancel", "1") == 0
            vigia.wait_for(lambda: zone_state("ZD-01") == "up", timeout=20, message="window cancelled")
        finally:
            vigia.stop()
    # The window is history: a maintenance period of ZD-01, out of its SLA.
    conf = cfg.parse(str(vigia.config))
    store = Store(conf.store_url(), conf.instance)
    try:
        periods = [p for p in store.outages_between(time.time() - 3600, time.time() + 60, "ZD-01")]
    finally:
        store.close()
    assert [p.kind for p in periods] == ["maintenance"] and periods[0].ended_at is not None


def test_a_window_from_the_command_line_is_out_of_the_sla_like_a_configured_one(tmp_path: Path) -> None:
    from reports.monthly import month_figures
    from tests.vigiaproc import daemon_in_process

    # Every portal refuses: ZD-01 gets its window from the command line, ZD-03 from the configuration
    # (CONFIG's "obra"), ZD-02 has none and is the control that shows the outage counting.
    text = CONFIG % {"status": free_port(), "directory": "null", "portal": 9}
    text = text.replace("{state}", str(tmp_path / "state"))  # the daemon's and the command's store
    with daemon_in_process(text, tmp_path) as daemon:
        conf = daemon.config
        now = datetime.now(TZ)
        start, end = (now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M"), (now + timedelta(hours=1))
        assert maint(tmp_path / "c.yml", "add", "--zones", "ZD-01", "--start", start, "--end",
                     end.strftime("%Y-%m-%d %H:%M"), "--reason", "Cambio de equipo") == 0  # fmt: skip
        daemon.publish.read()  # the operator-input job's read, done here instead of every 10 s
        began = time.time()
        for _ in range(4):
            daemon.run_cycle(1.0)
            time.sleep(0.5)
    store = Store(conf.store_url(), conf.instance)  # the daemon's writer flushed all as it stopped
    try:
        figures = month_figures(store.reader(), conf.zones, now.year, now.month, TZ, time.time())
    finally:
        store.close()
    by_zone = {z.zone.id: z.availability for z in figures.zones}
    for windowed in ("ZD-01", "ZD-03"):
        a = by_zone[windowed]
        assert a.downtime_seconds == 0 and a.incidents == 0, windowed
        assert a.maintenance_seconds >= time.time() - began - 1, windowed
    assert by_zone["ZD-02"].downtime_seconds > 0 and by_zone["ZD-02"].incidents == 1
    kinds = {i.zone: (i.classification, i.cause) for i in figures.incidents()}
    assert kinds["ZD-01"] == kinds["ZD-03"] == ("planned", "planned")
    assert kinds["ZD-02"] == ("unplanned", "unrecorded")
