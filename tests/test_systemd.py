"""systemd: the notify protocol on a real socket, the watchdog, and the unit file itself."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.daemon import Daemon
from monitor.sdnotify import Notifier
from tests import systemd_unit
from tests.conftest import need_binary
from tests.systemd_unit import UNIT
from tests.vigiaproc import ROOT, VigiaProcess, one_target_config

CONFIG = one_target_config("notify-test")


class NotifySocket:
    """What systemd does: bind a datagram socket and read what the service says."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.address = address
        self.messages: list[tuple[float, dict[str, str]]] = []
        self.seen = 0  # wait() consumes messages in order, whichever read() brought them

    def read(self, seconds: float) -> list[dict[str, str]]:
        got = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))
            got.append(fields)
        return got

    def wait(self, key: str, timeout: float = 30.0) -> dict[str, str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while self.seen < len(self.messages):
                fields = self.messages[self.seen][1]
                self.seen += 1
                if key in fields:
                    return fields
            self.read(0.2)
        raise AssertionError(f"no {key} within {timeout}s; got {[m for _, m in self.messages]}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    ns = NotifySocket(str(tmp_path / "notify.sock"))
    yield ns
    ns.close()


def test_the_daemon_speaks_the_notify_protocol(tmp_path: Path, notify: NotifySocket) -> None:
    vigia = VigiaProcess(CONFIG, tmp_path)
    vigia.env = {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"}
    vigia.start()
    try:
        ready = notify.wait("READY")
        assert vigia.proc is not None and ready["MAINPID"] == str(vigia.proc.pid)
        assert "1 targets" in ready["STATUS"] and f":{vigia.port}/metrics" in ready["STATUS"]
        # READY=1 means /metrics is already listening.
        assert vigia.get("/-/healthy")[0] == 200
        pings = [m for m in notify.read(2.5) if m.get("WATCHDOG") == "1"]
        assert len(pings) >= 3  # every half WATCHDOG_USEC

        vigia.signal(signal.SIGHUP)
        reloading = notify.wait("RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) > 0
        assert "READY" in notify.wait("READY")

        vigia.signal(signal.SIGTERM)
        assert notify.wait("STOPPING")["STOPPING"] == "1"
        assert vigia.proc.wait(timeout=15) == 0
    finally:
        vigia.stop()


def test_abstract_socket_and_no_socket(tmp_path: Path) -> None:
    name = f"@vigia-test-{os.getpid()}"
    ns = NotifySocket(name)
    try:
        env = {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}
        notifier = Notifier(env)
        assert env == {}  # consumed, so drill commands and child processes do not inherit them
        assert notifier.watchdog_interval is None  # the watchdog is meant for another process
        assert notifier.ready("ok")
        assert ns.wait("READY", timeout=2)["STATUS"] == "ok"
    finally:
        ns.close()
    outside = Notifier({})
    assert not outside.enabled and not outside.ready("ok") and not outside.watchdog()


def test_watchdog_is_withheld_while_cycles_are_wedged(
    tmp_path: Path, notify: NotifySocket, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "c.yml"
    config.write_text(CONFIG.replace("{state}", str(tmp_path / "state")))
    os.environ.update(NOTIFY_SOCKET=notify.address, WATCHDOG_USEC="1000000")
    daemon = Daemon(str(config), listen="127.0.0.1:0")
    assert "NOTIFY_SOCKET" not in os.environ
    daemon.start()
    release = threading.Event()

    def wedge() -> None:  # a cycle stuck on the daemon's lock is what the watchdog exists for
        with daemon.runtime.lock:
            release.wait(30)

    holder = threading.Thread(target=wedge, daemon=True)
    try:
        notify.wait("READY")
        assert any(m.get("WATCHDOG") for m in notify.read(2.0))
        holder.start()
        notify.read(6.5)
        notify.seen = len(notify.messages)  # 1 s interval: wedged once no cycle ended for max(3 s, 1 s + 5 s)
        assert not [m for m in notify.read(2.0) if m.get("WATCHDOG")]
        assert "withholding the systemd watchdog ping" in caplog.text
        release.set()
        holder.join(5)
        notify.wait("WATCHDOG", timeout=10)  # cycles finish again: the pings come back
    finally:
        release.set()
        daemon.stop()


def test_unit_file_verifies_and_is_hardened(tmp_path: Path) -> None:
    analyze = need_binary("systemd-analyze", "systemd")
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/vigia.service")
    (root / "opt/vigia/bin").mkdir(parents=True)
    shutil.copy(ROOT / ".venv/bin/vigia", root / "opt/vigia/bin/vigia")
    verify = systemd_unit.verify(analyze, root)
    mentions = [line for line in verify.stderr.splitlines() if "vigia" in line]
    assert verify.returncode == 0 and not mentions, verify.stderr

    directives = systemd_unit.directives()
    assert directives["Type"] == "notify" and directives["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert directives["CapabilityBoundingSet"] == directives["AmbientCapabilities"] == "CAP_NET_RAW"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictNamespaces"):
        assert directives[key] == "yes", key
    assert directives["ProtectSystem"] == "strict" and directives["UMask"] == "0027"
    assert directives["StateDirectory"] == "vigia" and "WatchdogSec" in directives

    security = subprocess.run(
        [analyze, "security", "--offline=true", f"--root={root}", "vigia.service"], capture_output=True, text=True
    )
    level = re.search(r"Overall exposure level for vigia.service: ([\d.]+)", security.stdout)
    assert level is not None, security.stdout + security.stderr
    assert float(level.group(1)) <= 2.0, security.stdout  # systemd calls < 2 "OK"; our bar


def test_the_agents_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    analyze = need_binary("systemd-analyze", "systemd")
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(systemd_unit.AGENT_UNIT, root / "etc/systemd/system/vigia-agent.service")
    (root / "opt/vigia/bin").mkdir(parents=True)
    shutil.copy(ROOT / ".venv/bin/vigia", root / "opt/vigia/bin/vigia")
    verify = systemd_unit.verify(analyze, root, "vigia-agent.service")
    assert verify.returncode == 0 and not [ln for ln in verify.stderr.splitlines() if "vigia" in ln], verify.stderr
    d = systemd_unit.directives(systemd_unit.AGENT_UNIT)
    assert d["ExecStart"] == "/opt/vigia/bin/vigia agent run --config /etc/vigia/agent.yml"
    assert (
        d["Restart"] == "always"
        and d["StateDirectory"] == "vigia-agent"
        and d["CapabilityBoundingSet"] == "CAP_NET_RAW"
    )
    security = subprocess.run([analyze, "security", "--offline=true", f"--root={root}", "vigia-agent.service"],
                              capture_output=True, text=True)  # fmt: skip
    level = re.search(r"Overall exposure level for vigia-agent.service: ([\d.]+)", security.stdout)
    assert level is not None and float(level.group(1)) <= 2.0, security.stdout + security.stderr
