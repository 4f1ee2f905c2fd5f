"""Shared test helpers.

Tests that need root, network namespaces or a server binary skip with a clear
reason where those are missing; under CI=true such a skip is a failure,
because CI has them all and must run every test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip (or, under CI, fail) when a prerequisite is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}", pytrace=False)
    pytest.skip(reason)


def need_root() -> None:
    need(os.geteuid() == 0, "needs root (raw ICMP sockets, network namespaces)")


def need_binary(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    need(path is not None, f"needs {name} (Debian package {package}; deploy/bootstrap.sh --tests installs it)")
    assert path is not None
    return path


def netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"vgt-probe-{os.getpid()}"
    ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ok


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def netns_ok() -> bool:
    return netns_available()


@pytest.fixture
def lab(netns_ok: bool) -> Iterator[object]:
    need(netns_ok, "needs root and 'ip netns' (iproute2) to build the network lab")
    from tests.lab import Lab

    with Lab() as the_lab:
        yield the_lab


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Belt and braces: under CI a skipped test is a failed run, whatever skipped it.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
