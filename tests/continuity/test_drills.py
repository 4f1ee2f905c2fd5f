"""Drills with real processes: a service restarted within its RTO, a failover, backups restored
into real SQLite and PostgreSQL with a recovery-point query, a hanging method, a tampered journal."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from continuity.journal import Journal
from continuity.plan import parse
from continuity.runner import ABORTED, FAILED, PASSED, PRECONDITION_FAILED, Runner
from tests.conftest import free_port, need

HERE = Path(__file__).parent.parent
PY = sys.executable
CTL = str(HERE / "service_ctl.py")


def make_runner(tmp_path: Path, plan_text: str) -> tuple[Runner, Journal]:
    path = tmp_path / "plan.yml"
    path.write_text(plan_text)
    journal = Journal(tmp_path / "drills")
    return Runner(parse(str(path)), journal), journal


def service(rto: str = "30s", rpo: str = "1h") -> str:
    return f"version: t1\nservices:\n  - {{id: web, name: Portal, rto: {rto}, rpo: {rpo}, mtd: 1h}}\ndrills:\n"


def up(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


def test_service_restarted_and_back_within_rto(tmp_path: Path) -> None:
    port, pid = free_port(), tmp_path / "svc.pid"
    subprocess.run([PY, CTL, "start", "--pidfile", str(pid), "--port", str(port)], check=True, timeout=30)
    first_pid = pid.read_text()
    plan = (
        service("30s")
        + f"""
  - id: reinicio
    service: web
    kind: restart
    exercise: functional
    objective: El portal vuelve tras reiniciarse
    max_duration: 1m
    verify_poll: 200ms
    params: {{pidfile: {pid}, port: "{port}"}}
    preconditions: [{{type: probe, probe: tcp, settings: {{host: 127.0.0.1, port: {port}}}}}]
    method:
      - {{type: command, name: Reiniciar, starts_service: true,
         argv: [{PY}, {CTL}, restart, --pidfile, "{{pidfile}}", --port, "{{port}}", --delay, "1"]}}
    verify: [{{type: probe, name: Portal responde, probe: http, settings: {{url: "http://127.0.0.1:{port}/"}}}}]
    rollback: [{{type: command, name: Asegurar arranque, starts_service: true,
                argv: [{PY}, {CTL}, start, --pidfile, "{{pidfile}}", --port, "{{port}}"]}}]
    post_verify: [{{type: probe, probe: http, settings: {{url: "http://127.0.0.1:{port}/"}}}}]
"""
    )
    runner, journal = make_runner(tmp_path, plan)
    try:
        rec = runner.run("reinicio", operator="jefe.oai")
    finally:
        subprocess.run([PY, CTL, "stop", "--pidfile", str(pid)], timeout=30)
    assert rec.verdict == PASSED, (rec.reason, [(s.phase, s.ok, s.detail) for s in rec.steps])
    assert pid.exists() is False or pid.read_text() != first_pid
    assert rec.rto_target_seconds == 30
    assert 1.0 <= rec.rto_achieved_seconds < 30
    assert [s.phase for s in rec.steps] == ["preconditions", "method", "verify", "rollback", "post_verify"]
    assert rec.steps[1].exit_code == 0 and rec.steps[1].evidence
    import hashlib

    evidence = (tmp_path / "drills" / rec.steps[1].evidence).read_bytes()
    assert hashlib.sha256(evidence).hexdigest() == rec.steps[1].evidence_sha256
    assert rec.rollback_ok is True and rec.operator == "jefe.oai" and rec.trigger == "manual"
    [stored] = list(journal.runs("reinicio"))
    assert stored["verdict"] == PASSED and stored["definition_version"] == "t1"
    assert journal.unfinished() == []


def test_failover_to_a_secondary_and_rollback_restarts_the_primary(tmp_path: Path) -> None:
    p_port, s_port = free_port(), free_port()
    p_pid, s_pid = tmp_path / "p.pid", tmp_path / "s.pid"
    for pidf, port in ((p_pid, p_port), (s_pid, s_port)):
        subprocess.run([PY, CTL, "start", "--pidfile", str(pidf), "--port", str(port)], check=True, timeout=30)
    plan = (
        service("20s")
        + f"""
  - id: conmutacion
    service: web
    kind: failover
    exercise: full-scale
    objective: El secundario atiende si cae el primario
    max_duration: 1m
    verify_poll: 200ms
    params: {{primary: {p_pid}, pport: "{p_port}"}}
    method: [{{type: command, name: Caída del primario, argv: [{PY}, {CTL}, stop, --pidfile, "{{primary}}"]}}]
    verify:
      - {{type: probe, name: Secundario responde, probe: http, settings: {{url: "http://127.0.0.1:{s_port}/"}}}}
    rollback: [{{type: command, name: Primario de vuelta, starts_service: true,
                argv: [{PY}, {CTL}, start, --pidfile, "{{primary}}", --port, "{{pport}}"]}}]
    post_verify: [{{type: probe, name: Primario responde, probe: http, settings: {{url: "http://127.0.0.1:{p_port}/"}}}}]
"""
    )
    runner, _ = make_runner(tmp_path, plan)
    try:
        rec = runner.run("conmutacion")
        assert up(p_port), "the rollback restarted the primary"
    finally:
        for pidf in (p_pid, s_pid):
            subprocess.run([PY, CTL, "stop", "--pidfile", str(pidf)], timeout=30)
    assert rec.verdict == PASSED, (rec.reason, [(s.phase, s.ok, s.detail) for s in rec.steps])
    assert rec.rto_achieved_seconds is not None and rec.rto_achieved_seconds < 20


def test_precondition_failure_disrupts_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    plan = (
        service()
        + f"""
  - id: gate
    service: web
    kind: restart
    exercise: functional
    objective: x
    max_duration: 1m
    preconditions: [{{type: probe, probe: tcp, settings: {{host: 127.0.0.1, port: {free_port()}}}}}]
    method: [{{type: command, argv: [/usr/bin/touch, {marker}]}}]
    rollback: [{{type: command, argv: [/usr/bin/touch, {marker}]}}]
"""
    )
    runner, _ = make_runner(tmp_path, plan)
    rec = runner.run("gate")
    assert rec.verdict == PRECONDITION_FAILED
    assert not marker.exists()
    assert rec.rollback_ok is None


def test_hanging_method_is_killed_and_rollback_still_runs(tmp_path: Path) -> None:
    marker = tmp_path / "rolled-back"
    plan = (
        service()
        + f"""
  - id: colgado
    service: web
    kind: restart
    exercise: functional
    objective: x
    max_duration: 1m
    method: [{{type: command, argv: [{PY}, -c, "import os, time; os.fork(); time.sleep(60)"], timeout: 1s}}]
    verify: [{{type: wait, duration: 10ms}}]
    rollback: [{{type: command, argv: [/usr/bin/touch, {marker}]}}]
"""
    )
    runner, _ = make_runner(tmp_path, plan)
    t0 = time.monotonic()
    rec = runner.run("colgado")
    assert time.monotonic() - t0 < 6
    assert rec.verdict == ABORTED
    assert "killed at the 1s deadline" in rec.steps[0].detail
    assert marker.exists() and rec.rollback_ok is True


def _events_db(path: Path, last: datetime) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("create table tramites (id integer primary key, radicado_en text)")
        for i in range(50):
            ts = (last - timedelta(minutes=50 - 1 - i)).strftime("%Y-%m-%d %H:%M:%S")
            conn.execute("insert into tramites (radicado_en) values (?)", (ts,))


def test_backup_restore_sqlite_with_recovery_point(tmp_path: Path) -> None:
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    _events_db(tmp_path / "prod.db", last)
    dump = tmp_path / "tramites.sql"
    with sqlite3.connect(tmp_path / "prod.db") as conn:
        dump.write_text("\n".join(conn.iterdump()))
    (tmp_path / "url").write_text(f"sqlite:///{tmp_path / 'restored.db'}")
    restore = "import sqlite3, sys; c = sqlite3.connect(sys.argv[2]); c.executescript(open(sys.argv[1]).read())"
    plan = (
        service(rpo="1h")
        + f"""
  - id: restauracion
    service: web
    kind: backup-restore
    exercise: functional
    objective: El respaldo restaura los trámites dentro del RPO
    max_duration: 5m
    disruptive: false
    verify:
      - {{type: file, name: Respaldo existe, path: {dump}, max_age: rpo, min_size: 100}}
      - {{type: command, name: Restaurar, argv: [{PY}, -c, "{restore}", {dump}, {tmp_path / "restored.db"}]}}
      - {{type: sql, name: Último trámite, url: {{file: {tmp_path / "url"}}},
         query: "select max(radicado_en) from tramites", recovery_point: true}}
"""
    )
    runner, _ = make_runner(tmp_path, plan)
    rec = runner.run("restauracion")
    assert rec.verdict == PASSED, (rec.reason, [(s.phase, s.ok, s.detail) for s in rec.steps])
    assert rec.recovery_point == last.isoformat(timespec="milliseconds")
    started = datetime.fromisoformat(rec.started_at)
    assert rec.rpo_achieved_seconds == pytest.approx((started - last).total_seconds(), abs=0.01)
    assert 20 * 60 <= rec.rpo_achieved_seconds < 21 * 60


def test_backup_restore_postgresql_dump_and_rpo_exceeded(tmp_path: Path) -> None:
    import secrets

    need(
        subprocess.run(["pg_isready", "-h", "127.0.0.1"], capture_output=True).returncode == 0,
        "needs the local PostgreSQL server",
    )
    src, dst = f"vigia_drill_{secrets.token_hex(3)}", f"vigia_restored_{secrets.token_hex(3)}"
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run([*psql, "-c", f"create database {src}"], check=True, capture_output=True)
    subprocess.run([*psql, "-c", f"create database {dst}"], check=True, capture_output=True)
    try:
        subprocess.run(
            [
                *psql,
                "-d",
                src,
                "-c",
                "create table tramites (id serial, radicado_en timestamptz); "
                "insert into tramites (radicado_en) values (now() - interval '3 hours')",
            ],
            check=True,
            capture_output=True,
        )
        dump = tmp_path / "tramites.sql"
        (tmp_path / "url").write_text(f"postgresql://postgres@127.0.0.1:5432/{dst}")
        plan = (
            service(rpo="1h")
            + f"""
  - id: restauracion-pg
    service: web
    kind: backup-restore
    exercise: functional
    objective: x
    max_duration: 5m
    disruptive: false
    params: {{src: {src}, dst: {dst}, dump: {dump}}}
    verify:
      - {{type: command, name: Respaldo, argv: [/usr/bin/pg_dump, -h, 127.0.0.1, -U, postgres, -f, "{{dump}}",
         "{{src}}"]}}
      - {{type: command, name: Restaurar, argv: [/usr/bin/psql, -q, -h, 127.0.0.1, -U, postgres, -d, "{{dst}}", -f,
         "{{dump}}"]}}
      - {{type: sql, name: Último trámite, url: {{file: {tmp_path / "url"}}},
         query: "select max(radicado_en) from tramites", recovery_point: true}}
"""
        )
        runner, _ = make_runner(tmp_path, plan)
        rec = runner.run("restauracion-pg")
    finally:
        for db in (src, dst):
            subprocess.run([*psql, "-c", f"drop database if exists {db} with (force)"], capture_output=True)
    assert [s.ok for s in rec.steps] == [True, True, True], [(s.name, s.detail) for s in rec.steps]
    assert rec.verdict == FAILED and "RPO achieved" in rec.reason
    assert 3 * 3600 - 60 < rec.rpo_achieved_seconds < 3 * 3600 + 60


def test_tampered_journal_is_detected(tmp_path: Path) -> None:
    plan = (
        service()
        + """
  - {id: mesa, service: web, kind: tabletop, exercise: tabletop, objective: Revisar el plan, max_duration: 10m}
"""
    )
    runner, journal = make_runner(tmp_path, plan)
    for _ in range(3):
        runner.run("mesa")
    assert journal.verify() == (3, [])
    lines = journal.file.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["run"]["verdict"] = "failed"  # an edit after the fact
    lines[1] = json.dumps(entry)
    journal.file.write_text("\n".join(lines) + "\n")
    count, problems = journal.verify()
    assert count == 3 and [p.line for p in problems] == [2]
    assert "was edited after it was journaled" in problems[0].message
    lines.pop(1)  # or a run removed
    journal.file.write_text("\n".join(lines) + "\n")
    _, problems = journal.verify()
    assert problems and problems[0].line == 2


def test_http_action_step_reaches_a_real_api(tmp_path: Path) -> None:
    from tests.servers import http_server

    with http_server({"/failover": lambda h: (202, {}, b"accepted")}) as api:
        plan = (
            service(rto="1s")
            + f"""
  - id: api
    service: web
    kind: failover
    exercise: functional
    objective: x
    max_duration: 2s
    verify_poll: 500ms
    disruptive: false
    verify: [{{type: http, name: Ordenar conmutación, method: GET, url: "{api.url("/failover")}"}},
             {{type: http, name: Ruta inexistente, method: GET, url: "{api.url("/nope")}"}}]
"""
        )
        runner, _ = make_runner(tmp_path, plan)
        rec = runner.run("api")
    assert [(s.name, s.ok, s.detail) for s in rec.steps][:2] == [
        ("Ordenar conmutación", True, "status 202"),
        ("Ruta inexistente", False, "status 404"),
    ]
    assert api.seen[0]["path"] == "/failover" and api.seen[0]["user-agent"] == "vigia-drill/1"


def test_one_drill_at_a_time_per_service_even_across_processes(tmp_path: Path) -> None:
    plan = (
        service()
        + """
  - {id: mesa, service: web, kind: review, exercise: tabletop, objective: x, max_duration: 10m}
"""
    )
    runner, journal = make_runner(tmp_path, plan)
    held = journal.try_lock_service("web")  # as another vigia process running a drill of the service would
    assert held is not None
    try:
        rec = runner.run("mesa")
    finally:
        journal.unlock_service(held)
    assert rec.verdict == "skipped" and "another drill of service web" in rec.reason
    assert runner.run("mesa").verdict == PASSED
