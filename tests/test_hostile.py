"""Hostile input and faults, each with the exact input that once broke vigia (issue 14).

No traceback, no silent loss, no secret in a log, and a daemon that survives its own reload.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.vigiaproc import ROOT, VigiaProcess, one_target_config

GOOD = one_target_config("hostil")

# Inputs that each made `vigia check-config` print a traceback or the running daemon exit on SIGHUP.
WEB = "{id: w, probe: http, http: {url: 'http://127.0.0.1/', body_regex: 'a{4294967296}'}}"
BAD_TEXT = {
    "recursive_alias": "targets: &t\n  - *t\n",
    "huge_interval": "defaults: {interval: 100000000000d, timeout: 1s}\n",
    "regex_overflow": f"targets:\n  - {WEB}\n",
    "impossible_date": "maintenance:\n  - {id: m, targets: [closed], start: 2025-13-45, end: 2025-12-01 10:00:00}\n",
    "deep_nesting": "a: " + "[" * 3000 + "]" * 3000 + "\n",
    "alias_bomb": "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
    + "".join(f"{n}: &{n} [{','.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
    "tiny_interval": "defaults: {interval: 1ms, timeout: 1ms}\n",
    "listen_port": "web: {listen: '127.0.0.1:99999'}\n",
    # Round two (issue 27): each of these was accepted by check-config or by a reload.
    "listen_address": "web: {listen: '999.1.1.1:80'}\n",
    "status_listen_address": "status_page: {listen: '10.0.0.300:8080'}\n",
    "window_a_century_long": "maintenance:\n  - {id: m, targets: [closed], start: 2026-01-01 00:00:00, "
    "end: 2126-01-01 00:00:00}\n",
    "window_in_1970": "maintenance:\n  - {id: m, targets: [closed], start: 1970-01-01 00:00:00, "
    "end: 1970-01-02 00:00:00}\n",
    "missing_plan": "continuity: {plan: /nonexistent/plan.yml}\n",
    "control_character": 'zones:\n  - {id: Z1, name: "Plaza\\r=1+3", barrio: b, localidad: l, lat: 10.4, '
    "lon: -75.5, gateway: 127.0.0.1}\n",
}
BAD_BYTES = {
    "invalid_utf8": b"instance: caf\xe9\n",
    "nul_byte": b"instance: a\x00b\n",
    "utf16": "instance: vigia\n".encode("utf-16"),
    "binary": bytes(range(256)) * 4,
}


def check_config(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(path), *extra],
        capture_output=True, text=True, timeout=60, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip


def bad_inputs() -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in BAD_TEXT.items()] + list(BAD_BYTES.items())


@pytest.mark.parametrize(("name", "data"), bad_inputs(), ids=[k for k, _ in bad_inputs()])
def test_check_config_locates_every_bad_input_without_a_traceback(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "vigia.yml"
    path.write_bytes(data)
    t0 = time.monotonic()
    out = check_config(path)
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(str(path)), out.stderr  # located: the file, and a line where known
    assert time.monotonic() - t0 < 15  # the alias bomb is refused, not expanded


def test_merge_keys_work_as_yaml_defines_them(tmp_path: Path) -> None:
    import config as cfg

    path = tmp_path / "c.yml"
    path.write_text(
        "targets:\n"
        "  - &base {probe: tcp, id: ssh, interval: 10s, timeout: 2s, tcp: {host: 127.0.0.1, port: 22}}\n"
        "  - {<<: *base, id: web, interval: 30s, tcp: {host: 127.0.0.1, port: 80}}\n"
    )
    web = cfg.parse(str(path)).target("web")
    # Keys written beside the merge override the merged ones; the rest is merged in.
    assert (web.interval, web.timeout, web.settings.port) == (30.0, 2.0, 80)  # type: ignore[attr-defined]


def test_paths_the_daemon_needs_are_checked_up_front(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "state-file"
    not_a_dir.write_text("")
    path = tmp_path / "c.yml"
    path.write_text(f"state_dir: {not_a_dir}\nstore: {{url_file: {tmp_path / 'nope'}}}\n")
    out = check_config(path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{path}:2:" in out.stderr and "cannot read" in out.stderr
    assert f"{path}:1:" in out.stderr and "is not a directory" in out.stderr


def test_reload_of_any_bad_file_keeps_the_daemon_serving(tmp_path: Path) -> None:
    vigia = VigiaProcess(GOOD, tmp_path).start()
    try:
        vigia.wait_ready()
        for n, (name, data) in enumerate(bad_inputs(), 1):
            vigia.config.write_bytes(data)
            vigia.signal(signal.SIGHUP)
            vigia.wait_for(
                lambda n=n: vigia.value("vigia_config_reloads_total") == float(n),
                message=f"reload {n} ({name})",
            )
            assert vigia.value("vigia_config_last_reload_successful") == 0.0, name
        vigia.config.write_text(GOOD.replace("{state}", str(tmp_path / "state")))
        vigia.signal(signal.SIGHUP)
        vigia.wait_for(lambda: vigia.value("vigia_config_last_reload_successful") == 1.0, message="good reload")
    finally:
        assert vigia.stop() == 0
    assert "Traceback" not in vigia.log.read_text()


def run_vigia(tmp_path: Path, config: str, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.yml"
    path.write_text(config.replace("{state}", str(tmp_path / "state")))
    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(path), *extra],
        capture_output=True, text=True, timeout=60, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip


def test_start_fails_with_one_line_when_the_port_is_taken_or_the_store_unreachable(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = run_vigia(tmp_path, GOOD, "--listen", f"127.0.0.1:{port}")
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr
    out = run_vigia(tmp_path, GOOD, "--listen", "127.0.0.1:99999")
    assert out.returncode == 1 and "99999" in out.stderr and "Traceback" not in out.stderr
    url = tmp_path / "store-url"
    url.write_text(f"postgresql://vigia:p@ss@127.0.0.1:{free_port()}/vigia\n")  # an unescaped @ in the password
    out = run_vigia(tmp_path, GOOD + f"store: {{url_file: {url}}}\n", "--listen", f"127.0.0.1:{free_port()}")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "cannot start" in out.stderr
    assert "p@ss" not in out.stderr and "ss@127" not in out.stderr  # the password, whole or in part


def test_report_month_with_the_store_down_says_so_in_one_line(tmp_path: Path) -> None:
    url = tmp_path / "store-url"
    url.write_text(f"postgresql://vigia:s3creto@127.0.0.1:{free_port()}/vigia\n")
    path = tmp_path / "c.yml"
    path.write_text(GOOD.replace("{state}", str(tmp_path / "state")) + f"store: {{url_file: {url}}}\n")
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "month", "--config", str(path), "--month", "2025-01",
         "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "s3creto" not in out.stderr
    assert out.stderr.strip(), "it says why"


def test_a_deleted_store_is_noticed_and_its_history_kept(tmp_path: Path) -> None:
    vigia = VigiaProcess(GOOD, tmp_path).start()
    db = tmp_path / "state" / "vigia.db"
    try:
        vigia.wait_ready()
        vigia.wait_for(lambda: (vigia.value("vigia_store_writes_total") or 0) >= 2, message="two writes")
        deleted_at = time.time()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        vigia.wait_for(
            lambda: vigia.value("vigia_store_file_changes_total", change="vanished") == 1.0,
            message="the vanished file noticed",
        )
        written = vigia.value("vigia_store_writes_total") or 0
        vigia.wait_for(lambda: (vigia.value("vigia_store_writes_total") or 0) >= written + 2, message="writes go on")
        assert vigia.value("vigia_store_errors_total") == 0.0
    finally:
        assert vigia.stop() == 0
    rows = sqlite3.connect(db).execute("select min(ts), max(ts), count(*) from probe_results").fetchone()
    assert rows[0] < deleted_at < rows[1], rows  # history from before the deletion, and writes after it
    assert "vanished" in vigia.log.read_text()


def test_a_torn_journal_line_stops_nothing(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(
        "version: k1\nservices:\n  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}\n"
        "drills:\n  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, "
        "max_duration: 10m}\n"
    )
    config = GOOD + f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n"
    vigia = VigiaProcess(config, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "monitor", "drill"]
    conf = ["--config", str(vigia.config)]
    subprocess.run([*cli, "run", *conf, "mesa"], env=env, check=True, timeout=60, capture_output=True)
    journal = tmp_path / "state" / "drills" / "journal.jsonl"
    with open(journal, "ab") as fh:
        fh.write(b'{"seq":2,"prev":"ab')  # a crash, or a full disk, in the middle of an append
    vigia.start()
    try:
        vigia.wait_ready()
        runs = vigia.value("vigia_cycles_total", interval="1s") or 0
        vigia.wait_for(lambda: (vigia.value("vigia_cycles_total", interval="1s") or 0) >= runs + 3, message="cycles")
        assert vigia.value("vigia_drill_runs_total", drill="mesa", result="passed") == 1.0
        for command in (["history", *conf], ["list", *conf], ["run", *conf, "mesa"], ["verify-journal", *conf]):
            out = subprocess.run([*cli, *command], env=env, timeout=60, capture_output=True, text=True)
            assert out.returncode == 0 and "Traceback" not in out.stderr, (command, out.stderr)
        vigia.wait_for(
            lambda: vigia.value("vigia_drill_runs_total", drill="mesa", result="passed") == 2.0,
            message="the new run seen by the daemon",
        )
    finally:
        assert vigia.stop() == 0
    torn = list(journal.parent.glob("journal.torn-*"))
    assert len(torn) == 1 and torn[0].read_bytes() == b'{"seq":2,"prev":"ab'


def test_a_journal_that_lost_its_last_line_or_was_rehashed_fails_verification(tmp_path: Path) -> None:
    import hashlib
    import json

    from continuity.journal import Journal, canonical

    journal = Journal(tmp_path)
    for i in range(3):
        journal.append({"run_id": f"r{i}", "drill": "mesa", "verdict": "passed"})
    assert journal.verify() == (3, [])
    lines = journal.file.read_bytes().splitlines(keepends=True)
    journal.file.write_bytes(b"".join(lines[:-1]))
    count, problems = journal.verify()
    assert count == 2 and problems and "removed" in problems[0].message
    # Edit the last run and hash the chain again, as someone covering their tracks would.
    entries = [json.loads(x) for x in lines]
    entries[-1]["run"]["verdict"] = "failed"
    prev = entries[-2]["hash"]
    body = {"seq": 3, "prev": prev, "run": entries[-1]["run"]}
    entries[-1]["hash"] = hashlib.sha256(canonical(body)).hexdigest()
    journal.file.write_bytes(b"".join(canonical(e) + b"\n" for e in entries))
    count, problems = journal.verify()
    assert count == 3 and problems and "rewritten" in problems[0].message


def test_a_url_password_reaches_no_log_row_or_message(tmp_path: Path) -> None:
    from kernel.redact import redact
    from probes.result import Timer

    res = Timer().fail("x", "http", "refused", "http://admin:S3cr3t@10.0.0.5/: connection refused")
    assert "S3cr3t" not in res.message and "http://admin:***@10.0.0.5/" in res.message
    assert redact("postgresql://vigia:p@ss@db/vigia") == "postgresql://vigia:***@db/vigia"


def test_aborted_responses_log_no_traceback_and_connections_are_capped(tmp_path: Path) -> None:
    vigia = VigiaProcess(GOOD + "web: {max_connections: 20}\n", tmp_path).start()
    idle: list[socket.socket] = []
    try:
        vigia.wait_ready()
        for _ in range(50):  # ask for /metrics and reset the connection before the answer is read
            with socket.create_connection(("127.0.0.1", vigia.port)) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for _ in range(30):
            idle.append(socket.create_connection(("127.0.0.1", vigia.port)))
        time.sleep(0.5)
        threads = len(os.listdir(f"/proc/{vigia.proc.pid}/task"))  # type: ignore[union-attr]
        for s in idle:
            s.close()
        idle.clear()
        vigia.wait_for(
            lambda: (vigia.value("vigia_http_connections_rejected_total") or 0) >= 10, message="rejections counted"
        )
    finally:
        for s in idle:
            s.close()
        assert vigia.stop() == 0
    assert threads < 20 + 25, threads  # the cap, plus the daemon's own threads
    log = vigia.log.read_text()
    assert "Traceback" not in log and "BrokenPipeError" not in log and "ConnectionResetError" not in log


def test_open_data_csv_neutralises_formulas() -> None:
    from reports.opendata import text_cell

    for bad in ('=HYPERLINK("http://x","clic")', "+1", "-2+3", "@SUM(A1)", " =1+3"):
        assert text_cell(bad) == "'" + bad
    assert text_cell("Plaza de la Aduana") == "Plaza de la Aduana"
    # Control characters are spaces: a tab or CR first is a formula start behind a blank.
    assert text_cell("\t=1+3") == "' =1+3" and text_cell("Centro\r=1+3") == "Centro =1+3"


def test_check_store_reaches_the_store_or_says_why(tmp_path: Path) -> None:
    url = tmp_path / "store-url"
    url.write_text(f"postgresql://vigia:p@ss@127.0.0.1:{free_port()}/vigia\n")
    path = tmp_path / "c.yml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\nstore: {{url_file: {url}}}\n")
    out = check_config(path, "--check-store")
    assert out.returncode == 1 and "cannot reach the store" in out.stderr
    assert "Traceback" not in out.stderr and "p@ss" not in out.stderr and "ss@" not in out.stderr
    path.write_text(f"state_dir: {tmp_path / 'state'}\n")
    out = check_config(path, "--check-store")
    assert out.returncode == 0 and "reachable" in out.stdout


def test_a_replaced_store_file_is_switched_to_and_given_the_schema(tmp_path: Path) -> None:
    vigia = VigiaProcess(GOOD, tmp_path).start()
    db = tmp_path / "state" / "vigia.db"
    try:
        vigia.wait_ready()
        vigia.wait_for(lambda: (vigia.value("vigia_store_writes_total") or 0) >= 1, message="a write")
        other = tmp_path / "restored.db"
        sqlite3.connect(other).execute("create table restored_by_admin (x int)").connection.commit()
        os.replace(other, db)  # an administrator puts another file in its place
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        vigia.wait_for(
            lambda: vigia.value("vigia_store_file_changes_total", change="replaced") == 1.0,
            message="the replaced file noticed",
        )
        written = vigia.value("vigia_store_writes_total") or 0
        vigia.wait_for(lambda: (vigia.value("vigia_store_writes_total") or 0) >= written + 1, message="writes go on")
    finally:
        assert vigia.stop() == 0
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert {"restored_by_admin", "probe_results", "vigia_schema"} <= tables
    assert sqlite3.connect(db).execute("select count(*) from probe_results").fetchone()[0] >= 1


def test_an_unreadable_journal_stops_neither_cycles_nor_metrics(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(
        "version: k1\nservices:\n  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}\n"
        "drills:\n  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, "
        "max_duration: 10m}\n"
    )
    vigia = VigiaProcess(GOOD + f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n", tmp_path).start()
    try:
        vigia.wait_ready()
        journal = tmp_path / "state" / "drills" / "journal.jsonl"
        journal.unlink(missing_ok=True)
        journal.mkdir()  # whatever the journal became, reading it fails
        vigia.wait_for(lambda: (vigia.value("vigia_drill_status_errors_total") or 0) >= 1, message="counted")
        seen = vigia.value("vigia_cycles_total", interval="1s") or 0
        vigia.wait_for(lambda: (vigia.value("vigia_cycles_total", interval="1s") or 0) >= seen + 3, message="cycles")
    finally:
        assert vigia.stop() == 0


def test_the_watchdog_vouches_only_while_metrics_move(tmp_path: Path) -> None:
    from tests.vigiaproc import daemon_in_process

    with daemon_in_process(GOOD.replace("{state}", str(tmp_path / "state")), tmp_path) as daemon:
        daemon.run_cycle(1.0)
        now = time.time()
        assert daemon.runtime.cycles_running(now) and daemon.metrics_moving(now)
        daemon.runtime.cycles_since = 0.0
        daemon.exposition.rendered_at = now - 60  # cycles end, but /metrics stopped changing a minute ago
        assert not daemon.metrics_moving(now)


def test_a_fifo_or_an_oversized_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "vigia.yml"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    out = check_config(fifo)  # opening it would wait for a writer for ever
    assert out.returncode == 1 and "not a regular file (a FIFO)" in out.stderr, out.stderr
    assert time.monotonic() - t0 < 15
    big = tmp_path / "big.yml"
    big.write_text(GOOD + "# " + "x" * (4 * 2**20) + "\n")
    out = check_config(big)
    assert out.returncode == 1 and "larger than 4 MiB" in out.stderr, out.stderr


def big_config(zones: int) -> str:
    """A valid configuration of ``zones`` zones (about 200 bytes each) on one closed loopback port."""
    lines = [GOOD, "zones:"]
    lines += [
        f"  - {{id: Z{i}, name: 'Zona {i}', barrio: 'Barrio {i}', localidad: L, lat: 10.4, lon: -75.5, "
        f"gateway: 127.0.{i // 250}.{i % 250 + 1}, portal_url: 'http://127.0.0.1:9/p{i}'}}"
        for i in range(zones)
    ]
    return "\n".join(lines) + "\n"


def test_sigterm_during_a_slow_reload_stops_at_once(tmp_path: Path) -> None:
    """A reload of a file of megabytes reads for seconds; SIGTERM meanwhile must not wait for it
    (it blocked for 41 s), and the reload is abandoned, not half applied."""
    vigia = VigiaProcess(GOOD, tmp_path).start()
    try:
        vigia.wait_ready()
        text = big_config(12_000).replace("{state}", str(tmp_path / "state"))
        text = text.replace("interval: 1s", "interval: 60s").replace("timeout: 500ms", "timeout: 5s")
        text += "probing: {max_in_flight: 50000}\n"
        vigia.config.write_text(text)
        vigia.signal(signal.SIGHUP)
        time.sleep(1.5)  # well inside the read of the new file
        assert vigia.proc is not None and vigia.proc.poll() is None
        t0 = time.monotonic()
        vigia.signal(signal.SIGTERM)
        code = vigia.proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        vigia.stop()
    assert code == 0 and took < 6, took
    log = vigia.log.read_text()
    assert "configuration reloaded" not in log and "Traceback" not in log


def test_a_reload_accepts_what_a_start_accepts_and_starts_an_added_plan(tmp_path: Path) -> None:
    """One check for start and reload: a plan that cannot be read fails the reload (it passed, while
    the same file refused to start); a readable plan added by a reload has its drills scheduled."""
    vigia = VigiaProcess(GOOD, tmp_path).start()
    good = GOOD.replace("{state}", str(tmp_path / "state"))
    try:
        vigia.wait_ready()
        vigia.config.write_text(good + f"continuity: {{plan: {tmp_path / 'nonexistent.yml'}}}\n")
        vigia.signal(signal.SIGHUP)
        vigia.wait_for(lambda: vigia.value("vigia_config_last_reload_successful") == 0.0, message="refused reload")
        assert "nonexistent.yml: No such file" in vigia.log.read_text()
        (tmp_path / "same").mkdir()
        assert run_vigia(tmp_path / "same", vigia.config.read_text(), "--listen", "127.0.0.1:0").returncode == 1
        (tmp_path / "plan.yml").write_text(
            "version: r1\nservices:\n  - {id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}\ndrills:\n"
            "  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, max_duration: 10m,\n"
            "     schedule: {cron: '0 3 1 1 *', timezone: UTC}}\n"
        )
        vigia.config.write_text(good + f"continuity: {{plan: {tmp_path / 'plan.yml'}}}\n")
        vigia.signal(signal.SIGHUP)
        vigia.wait_for(lambda: vigia.value("vigia_config_last_reload_successful") == 1.0, message="reload")
        vigia.wait_for(lambda: vigia.value("vigia_drill_info", drill="mesa") == 1.0, message="the plan's drills")
    finally:
        assert vigia.stop() == 0
    assert "drills: 1 scheduled" in vigia.log.read_text()
