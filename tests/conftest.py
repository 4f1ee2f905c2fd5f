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
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


_SPLIT_GROUPS = pytest.StashKey[set[str]]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # --dist loadgroup keeps a group on one worker by a suffix xdist writes into each test's id;
    # a pytest that no longer reads it (9.2 with xdist 3.8) spreads a group silently, and tests
    # that share one lab per group then build it on every worker at once. Each such test fails
    # with the reason (an error raised here is swallowed by xdist's worker protocol).
    if config.getoption("loadgroup", False):
        config.stash[_SPLIT_GROUPS] = {i.nodeid for i in items if i.get_closest_marker("xdist_group")
                                       and "@" not in i.nodeid}  # fmt: skip


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in item.config.stash.get(_SPLIT_GROUPS, set()):
        pytest.fail(f"--dist loadgroup does not keep this test's xdist_group on one worker under pytest "
                    f"{pytest.__version__} (see the pin in pyproject.toml)", pytrace=False)  # fmt: skip


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Belt and braces: under CI a skipped test is a failed run, whatever skipped it.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if IN_CI and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def dnsmasq() -> Iterator[tuple[str, int]]:
    """A real dnsmasq on a loopback address, serving the test zones (zonas.test, correo.test)."""
    with dnsmasq_on("127.0.0.53") as server:
        yield server


@contextmanager
def dnsmasq_on(address: str) -> Iterator[tuple[str, int]]:
    """dnsmasq serving the test zones on ``address`` and a free port, answering before this returns."""
    from probes.dns import DnsSettings
    from tests.probing import on_engine

    probe = on_engine("dns")

    binary = need_binary("dnsmasq", "dnsmasq-base")
    need_root()  # dnsmasq insists on switching user; as root it can
    port = free_port(address)
    proc = subprocess.Popen(
        [
            binary,
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            f"--listen-address={address}",
            "--bind-interfaces",
            f"--port={port}",
            "--user=root",
            "--local=/zonas.test/",
            "--address=/portal.zonas.test/10.213.0.10",
            "--txt-record=zonas.test,v=spf1 -all",
            "--local=/correo.test/",
            "--txt-record=seguro.correo.test,v=spf1 ip4:10.213.0.25 -all",
            "--txt-record=_dmarc.seguro.correo.test,v=DMARC1; p=reject; rua=mailto:dmarc@seguro.correo.test",
            "--txt-record=debil.correo.test,v=spf1 +all",
            "--txt-record=_dmarc.debil.correo.test,v=DMARC1; p=none",
            "--txt-record=doble.correo.test,v=spf1 -all",
            "--txt-record=doble.correo.test,v=spf1 ~all",
            "--txt-record=solo-texto.correo.test,google-site-verification=abc",
            # three strings of 200 bytes: more than a UDP answer without EDNS holds (512), so truncated
            "--txt-record=grande.zonas.test," + ",".join(c * 200 for c in "abc"),
            "--pid-file=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):  # wait until it answers, bounded
            res = probe(
                "w", DnsSettings(server=address, port=port, name="portal.zonas.test"), deadline=time.monotonic() + 0.2
            )
            if res.success:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield address, port
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A store's URL, once on SQLite and once on a PostgreSQL database of its own."""
    from tests import pgdb

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/vigia.db"
        return
    with pgdb.database() as pg:
        yield pg
