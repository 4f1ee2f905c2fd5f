"""The README's Debian install guide, step by step: deploy/install.sh into a staging root (user,
virtualenv from Debian's python3, configuration, unit, Prometheus rules, Grafana provisioning), the
unit verified against the installed files, the installed vigia run the way the unit runs it (its
user, CAP_NET_RAW only, no new privileges, UMask 0027), and an upgrade that keeps the configuration."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests import systemd_unit
from tests.conftest import free_port, need_binary, need_root
from tests.vigiaproc import ROOT

# The staged root (an install into a fresh root, ~30 s) is made once: its tests stay on one xdist
# worker (make test: --dist loadgroup) and it lives for the session, since pytest tears a module's
# fixture down whenever the worker runs a test of another module in between.
pytestmark = pytest.mark.xdist_group("install")

INSTALL = ROOT / "deploy" / "install.sh"


@contextmanager
def staging(*args: str) -> Iterator[tuple[Path, str]]:
    """deploy/install.sh into a fresh root under /tmp (not pytest's 0700 tree: the service user must
    reach the files), with this machine's users copied in; the root and what the script said."""
    need_root()
    need_binary("useradd", "passwd")
    root = Path(tempfile.mkdtemp(prefix="vigia-root-", dir="/tmp"))
    root.chmod(0o755)
    try:
        (root / "etc").mkdir()
        for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
            if os.path.exists(f"/etc/{name}"):
                shutil.copy2(f"/etc/{name}", root / "etc" / name)
        built_here = (ROOT / "build").exists()
        done = subprocess.run([str(INSTALL), "--root", str(root), *args], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        # Built from a copy: the checkout is left as it was (two installs at once raced in its build/).
        assert built_here or not (ROOT / "build").exists()
        assert "systemd not running here: unit installed, not started" in done.stdout
        assert "packages: python3 python3-venv" in done.stdout or "installing " in done.stdout
        yield root, done.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def staged() -> Iterator[Path]:
    parts = ["--prometheus", "--alertmanager", "--grafana", "--no-start"]
    links = ["--runbook-base", RUNBOOKS, "--grafana-url", "https://grafana.lab/"]
    with staging(*parts, *links) as (root, _):
        yield root


RUNBOOKS = "https://git.lab/oai/vigia/-/blob/main/docs/runbooks/"


def ids(root: Path) -> tuple[int, int]:
    [entry] = [line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("vigia:")]
    fields = entry.split(":")
    assert fields[6] == "/usr/sbin/nologin" and fields[5] == "/var/lib/vigia"
    return int(fields[2]), int(fields[3])


def test_user_virtualenv_and_configuration(staged: Path) -> None:
    uid, gid = ids(staged)
    assert uid < 1000  # a system account
    vigia = staged / "opt/vigia/bin/vigia"
    assert os.path.realpath(staged / "opt/vigia/bin/python").startswith("/usr/bin/python3")
    version = subprocess.run([str(vigia), "version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip()
    etc = staged / "etc/vigia"
    for path in (etc / "vigia.yml", etc / "web.yml", etc / "plans/cartagena-continuidad.yml"):
        st = path.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, 0o640), path
    assert stat.S_IMODE(etc.stat().st_mode) == 0o750
    state = (staged / "var/lib/vigia").stat()
    assert (state.st_uid, stat.S_IMODE(state.st_mode)) == (uid, 0o750)
    # The unit's ExecStartPre, with the installed files.
    check = subprocess.run(
        [str(vigia), "check-config", str(etc / "vigia.yml"), f"--web.config.file={etc / 'web.yml'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert f"{etc / 'vigia.yml'}: OK (" in check.stdout
    assert f"{etc / 'plans/cartagena-continuidad.yml'}: OK (" in check.stdout
    assert "web.yml: OK (TLS off, 0 basic auth users)" in check.stdout


def test_installed_unit_verifies(staged: Path) -> None:
    analyze = need_binary("systemd-analyze", "systemd")
    done = systemd_unit.verify(analyze, staged)
    assert done.returncode == 0 and "vigia" not in done.stderr, done.stderr
    exec_start = systemd_unit.directives()["ExecStart"].split()
    assert (staged / exec_start[0].lstrip("/")).exists()


def test_prometheus_rules_and_grafana_files_installed(staged: Path) -> None:
    promtool = need_binary("promtool", "prometheus")
    rules = sorted((staged / "etc/prometheus/rules").glob("vigia-*.yml"))
    assert [r.name for r in rules] == ["vigia-alerts.yml", "vigia-recording.yml"]
    assert subprocess.run([promtool, "check", "rules", *map(str, rules)], capture_output=True).returncode == 0
    # Every alert's links point at the office's runbooks and Grafana, one page per alert, all installed too.
    alerts = [r for g in yaml.safe_load(rules[0].read_text())["groups"] for r in g["rules"] if "alert" in r]
    for r in alerts:
        assert r["annotations"]["runbook_url"] == f"{RUNBOOKS}{r['alert']}.md", r["alert"]
        assert r["annotations"]["dashboard_url"].startswith("https://grafana.lab/d/vigia-"), r["alert"]
        assert (staged / "usr/share/doc/vigia/runbooks" / f"{r['alert']}.md").exists()
    am = staged / "etc/prometheus/alertmanager.yml"
    assert am.stat().st_mode & 0o777 == 0o640 and "VigiaDown" in am.read_text()
    assert (staged / "etc/prometheus/alertmanager_templates/vigia.tmpl").exists()
    assert (staged / "etc/prometheus/secrets/smtp-password").stat().st_mode & 0o777 == 0o640
    assert (staged / "etc/grafana/provisioning/datasources/vigia.yml").exists()
    assert (staged / "etc/grafana/provisioning/dashboards/vigia.yml").exists()
    boards = sorted(p.name for p in (staged / "var/lib/grafana/dashboards/vigia").glob("*.json"))
    assert boards == sorted(p.name for p in (ROOT / "deploy/grafana/dashboards").glob("*.json"))


def test_installed_vigia_runs_as_the_unit_runs_it(staged: Path) -> None:
    """The unit's user, capabilities and umask, applied by setpriv: ICMP works with CAP_NET_RAW alone."""
    setpriv = need_binary("setpriv", "util-linux")
    uid, gid = ids(staged)
    unit = systemd_unit.directives()
    caps = unit["AmbientCapabilities"].removeprefix("CAP_").lower()
    assert unit["CapabilityBoundingSet"] == unit["AmbientCapabilities"] and unit["NoNewPrivileges"] == "yes"
    state = staged / "var/lib/vigia"
    port = free_port()
    conf = staged / "etc/vigia/run-test.yml"
    conf.write_text(
        "instance: unit-test\ndefaults: {interval: 1s, timeout: 500ms}\n"
        "targets:\n  - {id: lo, probe: icmp, icmp: {address: 127.0.0.1}}\n"
    )
    os.chown(conf, 0, gid)
    conf.chmod(0o640)
    argv = [
        setpriv,
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        f"--inh-caps=-all,+{caps}",
        f"--ambient-caps=-all,+{caps}",
        f"--bounding-set=-all,+{caps}",
        "--no-new-privs",
        "--",
        "sh",
        "-c",
        f'umask {unit["UMask"]} && exec "$0" "$@"',
        str(staged / "opt/vigia/bin/vigia"),
        "run",
        "--config",
        str(conf),
        "--state-dir",
        str(state),
        "--listen",
        f"127.0.0.1:{port}",
        f"--web.config.file={staged / 'etc/vigia/web.yml'}",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/")
    try:
        body = ""
        for _ in range(100):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    body = resp.read().decode()
                if 'vigia_target_up{target="lo"} 1.0' in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert 'vigia_target_up{target="lo"} 1.0' in body
        assert re.search(r'vigia_icmp_rtt_seconds\{stat="avg",target="lo"\} [0-9.e-]+', body)
        assert "X-Content-Type-Options" not in body  # headers are headers, not body
        db = state / "vigia.db"
        st = db.stat()
        assert st.st_uid == uid and stat.S_IMODE(st.st_mode) & 0o027 == 0  # UMask=0027
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0


def test_upgrade_keeps_the_configuration(staged: Path) -> None:
    config = staged / "etc/vigia/vigia.yml"
    edited = config.read_text() + "# editado por el administrador\n"
    config.write_text(edited)
    done = subprocess.run(
        [str(INSTALL), "--root", str(staged), "--no-start"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keeping /etc/vigia/vigia.yml" in done.stdout and "creating system user" not in done.stdout
    assert config.read_text() == edited


def test_a_zone_agents_box_gets_the_agent_its_own_user_and_its_unit() -> None:
    """`install.sh --agent`: the same distribution, the user vigia-agent, /etc/vigia/agent.yml
    readable by it alone, the hardened unit; it says where the centre's token goes."""
    with staging("--agent", "--no-start") as (root, said):
        [entry] = [line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("vigia-agent:")]
        uid, gid = int(entry.split(":")[2]), int(entry.split(":")[3])
        assert uid < 1000 and entry.split(":")[6] == "/usr/sbin/nologin"
        config = (root / "etc/vigia/agent.yml").stat()
        assert (config.st_uid, config.st_gid, stat.S_IMODE(config.st_mode)) == (0, gid, 0o640)
        unit = (root / "etc/systemd/system/vigia-agent.service").read_text()
        assert unit == (ROOT / "deploy/systemd/vigia-agent.service").read_text()
        assert not (root / "etc/systemd/system/vigia.service").exists()  # no daemon on a zone's box
        assert "/etc/vigia/agent.token" in said
        run = subprocess.run([str(root / "opt/vigia/bin/vigia"), "agent", "run", "--help"], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert run.returncode == 0 and "--config" in run.stdout
