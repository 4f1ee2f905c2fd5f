"""Run the real ``vigia`` daemon as a child process for end-to-end tests."""

from __future__ import annotations

import base64
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from monitor.daemon import Daemon
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def one_target_config(instance: str) -> str:
    """A daemon that runs anywhere: one TCP target on a closed loopback port, 1 s cycles."""
    return (
        f"instance: {instance}\n"
        "state_dir: {state}\n"
        "defaults: {interval: 1s, timeout: 500ms}\n"
        "targets:\n"
        "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
    )


class VigiaProcess:
    def __init__(self, config_text: str, tmp: Path, *, name: str = "vigia.yml") -> None:
        self.tmp = tmp
        self.config = tmp / name
        self.port = free_port()
        self.config.write_text(config_text.replace("{port}", str(self.port)).replace("{state}", str(tmp / "state")))
        self.log = tmp / "vigia.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Set by tests that serve over TLS and basic auth: how this helper's own requests connect.
        self.tls: ssl.SSLContext | None = None
        self.auth: tuple[str, str] | None = None
        self.env: dict[str, str] = {}
        # A daemon inside a lab namespace: run through ``ip netns exec``, reached at its address.
        self.netns: str | None = None
        self.address = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}"

    def start(self, *extra: str) -> VigiaProcess:
        env = dict(os.environ, PYTHONPATH=str(ROOT), **self.env)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(["ip", "netns", "exec", self.netns] if self.netns else []),
                    sys.executable,
                    "-m",
                    "monitor",
                    "run",
                    "--config",
                    str(self.config),
                    "--listen",
                    f"{self.address}:{self.port}",
                    "--log-level",
                    "DEBUG",
                    *extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.tmp),
            )
        return self

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path)
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=3, context=self.tls) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_for(self, what: Callable[[], bool], timeout: float = 20.0, message: str = "") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc is None or self.proc.poll() is None, f"vigia exited:\n{self.log.read_text()}"
            try:
                if what():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {message or what}\n--- log ---\n{self.log.read_text()[-4000:]}")

    def wait_ready(self, timeout: float = 20.0) -> None:
        self.wait_for(lambda: self.get("/-/ready")[0] == 200, timeout, "/-/ready")

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        status, body = self.get("/metrics")
        assert status == 200
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for fam in text_string_to_metric_families(body.decode()):
            for s in fam.samples:
                out.setdefault(s.name, []).append((s.labels, s.value))
        return out

    def value(self, name: str, **labels: str) -> float | None:
        for lb, v in self.metrics().get(name, []):
            if all(lb.get(k) == val for k, val in labels.items()):
                return v
        return None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise
        return int(self.proc.returncode)


@contextmanager
def daemon_in_process(config_text: str, tmp: Path) -> Iterator[Daemon]:
    """A Daemon with its store and writer open but no scheduler or HTTP server: the test drives cycles."""
    path = tmp / "c.yml"
    path.write_text(config_text)
    daemon = Daemon(str(path), state_dir=str(tmp / "state"), listen="127.0.0.1:0")
    daemon.store.migrate()
    daemon.writer.start()
    daemon.runtime.restore()
    try:
        yield daemon
    finally:
        daemon.writer.stop()
        # Closing the runtime thaws what its heap froze of the test process's objects (so cycles
        # this test leaves are collected) and puts the collector's thresholds back.
        daemon.runtime.close()
        daemon.store.close()
