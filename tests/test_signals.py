"""Signals reach the main thread through a socket, so no handler ever waits on a lock (kernel.signals)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kernel.signals import SignalInbox
from tests.conftest import free_port
from tests.vigiaproc import ROOT, VigiaProcess, one_target_config


def test_the_inbox_tells_the_wanted_signals_and_gives_the_handlers_back() -> None:
    before = signal.getsignal(signal.SIGHUP)
    inbox = SignalInbox(signal.SIGHUP, signal.SIGUSR2)
    try:
        assert inbox.wait(0) == set()
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGHUP)
        assert inbox.wait(2.0) == {signal.SIGHUP, signal.SIGUSR2}
        assert inbox.wait(0.05) == set()  # told once, then drained
    finally:
        inbox.close()
    assert signal.getsignal(signal.SIGHUP) == before
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


def test_a_storm_of_reloads_then_sigterm_stops_the_daemon_cleanly(tmp_path: Path) -> None:
    # A handler that set a threading.Event could land while the main thread held that Event's lock
    # and wait for it for ever: a SIGTERM after a reload left the daemon running (seen in CI).
    vigia = VigiaProcess(one_target_config("storm"), tmp_path)
    vigia.start()
    try:
        vigia.wait_ready()
        assert vigia.proc is not None
        for _ in range(300):
            vigia.signal(signal.SIGHUP)
            time.sleep(0.002)
        vigia.signal(signal.SIGTERM)
        assert vigia.proc.wait(timeout=20) == 0
        log = vigia.log.read_text()
        assert "configuration reloaded" in log and "stopped:" in log
    finally:
        vigia.stop()


def test_sigterm_at_the_worst_moment_still_stops_the_daemon(tmp_path: Path) -> None:
    # Deterministic: SIGTERM raised while the main thread holds a Condition's lock (see the script).
    # The handler of the old code (Event.set) waited for that lock for ever; this must exit 0.
    config = tmp_path / "vigia.yml"
    config.write_text(one_target_config("worst").replace("{state}", str(tmp_path / "state")))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "signal_worst_moment.py"), str(config), f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=5)
        raise AssertionError(f"SIGTERM did not stop the daemon:\n{out.decode()[-3000:]}") from None
    text = out.decode()
    assert "worst-moment: SIGTERM sent" in text and "stopped:" in text, text[-3000:]
    assert proc.returncode == 0, text[-3000:]
