"""The command line: version, help, one-shot probe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.conftest import need_root
from tests.servers import http_server

ROOT = Path(__file__).parent.parent


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith("vigia 0.")


def test_python_dash_m_and_help_explain_each_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=30
    )
    assert out.returncode == 0
    for command in ("run", "check-config", "probe", "version"):
        assert command in out.stdout
    for command in ("run", "check-config", "probe"):
        sub = subprocess.run(
            [sys.executable, "-m", "monitor", command, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=30
        )
        assert sub.returncode == 0 and len(sub.stdout) > 200, sub.stdout


def test_probe_one_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with http_server({"/": lambda _h: (200, {}, b"Bienvenido")}) as srv:
        conf = tmp_path / "c.yml"
        conf.write_text(
            f"targets:\n  - {{id: portal, probe: http, http: {{url: '{srv.url('/')}'}}}}\n"
            "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        )
        assert main(["probe", "--config", str(conf), "portal"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("portal [http] OK in ")
        assert "status_code = 200" in out
        assert main(["probe", "--config", str(conf), "--json", "closed"]) == 3
        data = json.loads(capsys.readouterr().out)
        assert data["success"] is False and data["reason"] == "refused"
        assert main(["probe", "--config", str(conf), "nope"]) == 2
        assert "no target 'nope' (targets: portal, closed)" in capsys.readouterr().err


def test_probe_icmp_one_shot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_root()
    conf = tmp_path / "c.yml"
    conf.write_text("targets:\n  - {id: gw, probe: icmp, icmp: {address: 127.0.0.9, packets: 2}}\n")
    assert main(["probe", "--config", str(conf), "gw"]) == 0
    assert "packets_received = 2" in capsys.readouterr().out


def test_run_with_invalid_config_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "c.yml"
    conf.write_text("defaults: {interval: soon}\n")
    assert main(["run", "--config", str(conf)]) == 1
    assert "defaults.interval: invalid duration 'soon'" in capsys.readouterr().err


def test_a_file_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The system's error on a report file reaches the operator as the file and the reason, not
    as a traceback (kernel.files maps it at the write, the command line catches the tree only)."""
    conf = tmp_path / "c.yml"
    conf.write_text(
        f"state_dir: {tmp_path / 'state'}\ntargets:\n  - {{id: a, probe: tcp, tcp: {{host: 127.0.0.1, port: 9}}}}\n"
    )
    out = tmp_path / "out"
    (out / "plan-2026.es.html").mkdir(parents=True)  # a folder where the report should go
    assert (
        main(["report", "plan", "--config", str(conf), "--year", "2026", "--lang", "es", "--output-dir", str(out)]) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith(f"vigia report: cannot write {out / 'plan-2026.es.html'}: Is a directory"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(out.glob(".*.tmp"))  # nothing half-written left beside it
