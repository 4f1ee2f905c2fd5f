"""Nothing a drill step starts outlives it: backgrounded children, new sessions, a crashed vigia (issue 14)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from continuity.commands import run
from continuity.journal import Journal
from tests.vigiaproc import ROOT

SH = "/bin/sh"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone(*pids: int, within: float = 5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def wait_file(path: Path, within: float = 10.0) -> str:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_a_backgrounded_child_does_not_outlive_the_step(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    out = run([SH, "-c", f"sleep 300 & echo $! > {pid}; exit 0"], env={}, timeout=10, output_limit=1024)
    assert out.exit_code == 0 and not out.timed_out
    assert gone(int(pid.read_text())), "the backgrounded sleep was left running"


def test_a_child_in_a_session_of_its_own_does_not_outlive_the_step(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    script = f"setsid sleep 300 & echo $! > {pid}; exit 3"
    out = run([SH, "-c", script], env={"PATH": "/usr/bin:/bin"}, timeout=10, output_limit=1024)
    assert out.exit_code == 3
    leftover = int(pid.read_text())
    assert gone(leftover), "the setsid child escaped"


def test_a_step_that_starts_a_service_keeps_it(tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    script = f"setsid sleep 300 & echo $! > {pid}; exit 0"
    out = run([SH, "-c", script], env={"PATH": "/usr/bin:/bin"}, timeout=10, output_limit=1024, keep_descendants=True)
    service = int(pid.read_text())
    try:
        assert out.exit_code == 0 and alive(service)
    finally:
        os.kill(service, signal.SIGKILL)


def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yml"
    path.write_text(f"""version: e1
services:
  - {{id: web, name: Portal, rto: 5m, rpo: 1h, mtd: 1h}}
  - {{id: db, name: Base de datos, rto: 5m, rpo: 1h, mtd: 1h}}
drills:
  - id: largo
    service: web
    kind: restart
    exercise: functional
    objective: x
    max_duration: 5m
    method:
      - {{type: command, argv: [{SH}, -c, "setsid sleep 300 & echo $! > {tmp_path}/escaped; sleep 300"], timeout: 60s}}
    rollback: [{{type: command, argv: [/usr/bin/touch, {tmp_path}/rolled-back]}}]
  - id: previo
    service: db
    kind: restart
    exercise: functional
    objective: x
    max_duration: 5m
    preconditions: [{{type: command, argv: [{SH}, -c, "echo $$ > {tmp_path}/checking; sleep 300"], timeout: 60s}}]
    method: [{{type: command, argv: [/usr/bin/touch, {tmp_path}/disrupted]}}]
    rollback: [{{type: command, argv: [/usr/bin/touch, {tmp_path}/db-rolled-back]}}]
  - {{id: mesa, service: web, kind: review, exercise: tabletop, objective: Revisar, max_duration: 10m}}
""")
    (tmp_path / "c.yml").write_text(
        f"state_dir: {tmp_path / 'state'}\ncontinuity: {{plan: {path}}}\n"
        "targets:\n  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
    )
    return tmp_path / "c.yml"


def drill(config: Path, *args: str, wait: bool = True) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "drill", "run", "--config", str(config), *args],
        cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    if wait:
        proc.wait(timeout=120)
    return proc


def test_kill_9_mid_method_leaves_nothing_once_recovered(tmp_path: Path) -> None:
    config = plan(tmp_path)
    proc = drill(config, "largo", wait=False)
    escaped = int(wait_file(tmp_path / "escaped"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert alive(escaped), "the method is still running after vigia died (as it would)"
    journal = Journal(tmp_path / "state" / "drills")
    [marker] = journal.unfinished()
    assert isinstance(marker["pgid"], int)
    # A new run of the same service waits for the recovery of the interrupted one, then goes on.
    assert drill(config, "mesa").returncode == 0
    assert gone(escaped), "recovery left the method's processes running"
    assert (tmp_path / "rolled-back").exists()
    assert journal.unfinished() == []
    runs = [(r["drill"], r["verdict"]) for r in journal.runs()]
    assert runs == [("largo", "interrupted"), ("mesa", "passed")]
    assert journal.verify()[1] == []


def test_a_run_killed_in_its_preconditions_is_not_rolled_back(tmp_path: Path) -> None:
    config = plan(tmp_path)
    proc = drill(config, "previo", wait=False)
    checking = int(wait_file(tmp_path / "checking"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    from continuity import plan as plan_mod
    from continuity.runner import Runner

    journal = Journal(tmp_path / "state" / "drills")
    runner = Runner(plan_mod.parse(str(tmp_path / "plan.yml")), journal)
    [record] = runner.recover()
    assert record.verdict == "interrupted" and "before the method" in record.reason
    assert not (tmp_path / "db-rolled-back").exists(), "nothing was disrupted, so nothing is rolled back"
    assert not (tmp_path / "disrupted").exists()
    assert gone(checking)
