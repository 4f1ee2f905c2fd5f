"""Maintenance windows from the command line: checked whole, kept with who, applied by the running
daemon from its next cycle without a reload, recorded as maintenance (out of the SLA)."""

from __future__ import annotations

import json
import subprocess
import sys
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


def public_state(status_port: int, zone: str) -> str:
    """A zone's state as the public status page's JSON gives it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/status.json") as resp:
        return str({z["id"]: z["state"] for z in json.loads(resp.read())["zones"]}[zone])


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
        # Each of these was stored once and then broke `maintenance list`, the daemon's operator-input
        # job and `vigia run` itself (year 10000 is out of range).
        (["--zones", "ZD-01", "--end", "9999-12-31 23:59"], "the end is not between 2000-01-01 and 10 years"),
        (["--zones", "ZD-01", "--start", "0001-01-01 00:00+05:00"], "the start is not between 2000-01-01"),
        (["--zones", "ZD-01", "--start", "1970-01-01 00:00"], "the start is not between 2000-01-01"),
        (["--zones", "ZD-01", "--end", "2031-06-01 00:00"], "at most 366"),
        (["--zones", "ZD-01", "--reason", "Obra\x1b[31m roja"], "control character (\\x1b) at character 5"),
        (["--zones", "ZD-01", "--reason", "Obra\u202etxt.exe"], "control character (\\u202e)"),
        (["--zones", "ZD-01", "--start", "2030-01-05 22:00\x07"], "is not a date and time"),
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


def test_ids_and_argv_that_no_record_or_text_can_be_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zones_and_states(tmp_path)
    for number in (str(2**70), "0", "-3", "uno"):
        with pytest.raises(SystemExit) as stop:
            maint(tmp_path / "vigia.yml", "cancel", number)
        assert stop.value.code == 2
        assert "argument id:" in capsys.readouterr().err
    # Bytes that are not UTF-8 in argv, as a shell hands them over (Python's surrogateescape).
    reason = b"Obra \xe9l\xe9ctrica".decode("utf-8", "surrogateescape")
    assert maint(tmp_path / "vigia.yml", "add", "--zones", "ZD-01", "--start", "2030-01-05 22:00",
                 "--end", "2030-01-06 04:00", "--reason", reason) == 2  # fmt: skip
    assert "is not valid UTF-8" in capsys.readouterr().err


def test_a_stored_window_the_daemon_cannot_use_is_skipped_and_counted(tmp_path: Path) -> None:
    """A row from before times were checked (or typed into the database): `maintenance list` shows
    it, the daemon starts, applies every other window, logs the bad one and counts it."""
    import sqlite3

    from store.schema import maintenance_t

    with http_server({"/": lambda _h: (200, {}, b"portal")}) as portal:
        status = free_port()
        vigia = VigiaProcess(CONFIG % {"status": status, "directory": "null", "portal": portal.port}, tmp_path)
        conf = cfg.parse(str(vigia.config))
        now = datetime.now(TZ)
        good = ["--start", (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"),
                "--end", (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")]  # fmt: skip
        assert maint(vigia.config, "add", "--zones", "ZD-01", *good, "--reason", "Cambio de equipo") == 0
        stored(conf)  # the schema exists
        db = sqlite3.connect(conf.store_url().removeprefix("sqlite:///"))
        with db:
            db.execute(
                f'INSERT INTO {maintenance_t.name} (instance, zones, targets, start, "end", reason, created_at, '
                "created_by) VALUES (?, 'ZD-02', '', ?, ?, 'x', ?, 'legacy')",
                (conf.instance, time.time() - 60, 253402300799.0 + 86400, time.time()),
            )
            db.execute(
                f'INSERT INTO {maintenance_t.name} (instance, zones, targets, start, "end", reason, created_at, '
                "created_by) VALUES (?, 'ZD-02', '', ?, ?, 'old', ?, 'legacy')",
                (conf.instance, -62135614800.0, -62135614000.0, time.time()),
            )
        db.close()
        out = subprocess.run([sys.executable, "-m", "monitor", "maintenance", "list", "--all", "--config",
                              str(vigia.config)], capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        assert out.stdout.count("\n") == 3 and "@253402387199" in out.stdout
        vigia.start()
        try:
            vigia.wait_ready(timeout=30)

            vigia.wait_for(
                lambda: public_state(status, "ZD-01") == "maintenance", timeout=30, message="the good window applied"
            )
            assert public_state(status, "ZD-02") != "maintenance"
            vigia.wait_for(
                lambda: (vigia.value("vigia_operator_input_skipped_total", kind="maintenance") or 0) >= 1,
                message="the bad row counted",
            )
        finally:
            assert vigia.stop() == 0
    log = vigia.log.read_text()
    assert "maintenance window 2 in the store is not applied" in log and "Traceback" not in log


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

            vigia.wait_for(lambda: public_state(status, "ZD-01") == "up", timeout=20, message="ZD-01 up")
            now = datetime.now(TZ)
            start, end = (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M"), (now + timedelta(hours=1))
            assert maint(vigia.config, "add", "--zones", "ZD-01", "--start", start,
                         "--end", end.strftime("%Y-%m-%d %H:%M"), "--reason", "Cambio de equipo") == 0  # fmt: skip
            vigia.wait_for(lambda: public_state(status, "ZD-01") == "maintenance", timeout=20, message="window applied")
            assert vigia.value("vigia_zone_status", zone="ZD-01", status="maintenance") in (1.0, None)
            assert maint(vigia.config, "cancel", "1") == 0
            vigia.wait_for(lambda: public_state(status, "ZD-01") == "up", timeout=20, message="window cancelled")
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
