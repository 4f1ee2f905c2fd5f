"""The network lab: real hosts in network namespaces, joined to this host by veth pairs.

Each lab host gets a /30 from 10.213.0.0/16 that exists only on its veth pair,
so nothing the tests send can leave the machine. Everything is torn down on
exit, even when a test fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from dataclasses import dataclass, field
from types import TracebackType

# Held while a host's /30 is chosen and put on its veth: other runs on this machine (a developer's
# tests beside the suite, a benchmark) draw from the same 10.213.0.0/16, and two veth pairs with
# one subnet route to whichever the kernel picks, so pings would be answered by the wrong host.
_LOCK = "/run/vigia-test-lab.lock"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child, then kill it if it has not ended within 5 s."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=30)


@dataclass
class LabHost:
    ns: str
    host_if: str
    ns_if: str
    address: str
    gateway: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns, *argv, check=check)

    def spawn(self, *argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kwargs)  # type: ignore[call-overload]
        self.processes.append(proc)
        return proc

    def down(self) -> None:
        """The host stops answering: its side of the link goes down."""
        self.run("ip", "link", "set", self.ns_if, "down")

    def up(self) -> None:
        self.run("ip", "link", "set", self.ns_if, "up")

    def wait_tcp(self, host: str, port: int, timeout: float = 20.0) -> None:
        """Wait, bounded, until a TCP connection from inside the namespace reaches host:port: a fresh
        veth pair can lose the first packets while its carrier comes up, and a daemon that meets a
        dead path at start exits (systemd restarts it; a test would only see it gone)."""
        probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=2).close()"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.run("python3", "-c", probe, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.ns} cannot reach {host}:{port} within {timeout:.0f} s")
        self.run("ip", "route", "replace", "default", "via", self.gateway)

    def sysctl(self, key: str, value: str) -> None:
        self.run("sysctl", "-q", "-w", f"{key}={value}")


class Lab:
    def __init__(self) -> None:
        self.hosts: list[LabHost] = []
        self.tag = f"{os.getpid() % 10000}"

    def add_host(self) -> LabHost:
        # Workers of a parallel run (pytest-xdist: gw0, gw1, ...) start in disjoint halves of
        # 10.213.0.0/16; any subnet already on this machine is passed over, whoever made it.
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
        share = 250 // max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
        with open(_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            taken = sh("ip", "-o", "-4", "addr", "show").stdout
            order = [(worker * share + k) % 250 + 1 for k in range(250)]
            n = next((n for n in order if f" 10.213.{n}.1/" not in taken), 0)
            if not n:
                raise RuntimeError("every /30 of the lab's 10.213.0.0/16 is in use on this machine")
            ns = f"vgt-{self.tag}-{n}"
            host_if, ns_if = f"vgh{self.tag}n{n}"[:15], f"vgn{self.tag}n{n}"[:15]
            gateway, address = f"10.213.{n}.1", f"10.213.{n}.2"
            sh("ip", "netns", "add", ns)
            host = LabHost(ns, host_if, ns_if, address, gateway)
            self.hosts.append(host)
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            sh("ip", "link", "set", ns_if, "netns", ns)
            sh("ip", "addr", "add", f"{gateway}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        host.run("ip", "addr", "add", f"{address}/30", "dev", ns_if)
        host.run("ip", "link", "set", "lo", "up")
        host.up()
        self._wait_reachable(host)
        return host

    @staticmethod
    def _wait_reachable(host: LabHost) -> None:
        # The veth pair takes a moment to carry traffic (DAD, carrier); wait, bounded.
        for _ in range(50):
            out = sh("ip", "-o", "link", "show", host.host_if, check=False).stdout
            if "LOWER_UP" in out:
                return
            time.sleep(0.05)

    def close(self) -> None:
        for host in self.hosts:
            for proc in host.processes:
                stop(proc)
            sh("ip", "netns", "del", host.ns, check=False)
            sh("ip", "link", "del", host.host_if, check=False)
        self.hosts.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
