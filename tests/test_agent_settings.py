"""The agent's own file: the bundled example reads, paths are relative to the file, a mistake is
named with its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.errors import ConfigError
from monitor.agent.settings import parse
from tests.vigiaproc import ROOT


def test_the_bundled_example_reads() -> None:
    s = parse(str(ROOT / "examples" / "agent" / "agent.yml"))
    assert s.zone == "ZD-01" and len(s.centre) == 2 and s.spool_bytes == 200_000_000
    assert s.spool_max_age == 7 * 86400


def test_paths_are_relative_to_the_file_and_mistakes_have_their_line(tmp_path: Path) -> None:
    path = tmp_path / "agent.yml"
    path.write_text("zone: ZD-01\ncentre: [http://centro:9842/]\ntoken_file: token\n")
    s = parse(str(path))
    assert s.token_file == str(tmp_path / "token") and s.centre == ["http://centro:9842"]
    path.write_text("zone: ZD-01\ncentre: [ftp://centro]\ntoken_file: token\nspool_max_size: lots\n")
    with pytest.raises(ConfigError) as info:
        parse(str(path))
    said = {(p.line, p.key) for p in info.value.problems}
    assert (2, "centre") in said or (2, "centre[0]") in said, said
    assert (4, "spool_max_size") in said, said


def test_the_agent_leaves_the_centres_libraries_alone() -> None:
    """A zone's box is small (footprint goal 40 MB, benchmarks/agent_footprint.py): the agent loads
    no database toolkit, no exposition, no report stack, not the centre's configuration, no probe
    kind before a check of that kind runs; pysnmp and cryptography only with a check that needs
    them."""
    import subprocess
    import sys

    heavy = ("sqlalchemy", "prometheus_client", "jinja2", "babel", "matplotlib", "weasyprint", "pysnmp",
             "cryptography", "apscheduler", "uvloop", "psutil", "config", "continuity", "probes.mail",
             "probes.tls", "probes.host")  # fmt: skip
    # As `vigia agent run` starts: the command line, then the agent.
    code = f"import sys, monitor.cli, monitor.agent.run; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == []


def test_the_agent_validates_its_checks_without_pydantic() -> None:
    """The checks the centre sends are validated by the probes' own settings models, which are
    msgspec Specs: the agent's every check kind, settings read from JSON as the centre sends them,
    loads no pydantic (7 MB of the 40 MB a zone's box grants the agent)."""
    import subprocess
    import sys

    checks = [("icmp", {"address": "127.0.0.1"}), ("dns", {"server": "127.0.0.1", "name": "a.test"}),
              ("http", {"url": "http://127.0.0.1/"}),
              ("snmp", {"address": "127.0.0.1", "if_index": 1, "community": {"env": "X"}})]  # fmt: skip
    document = json.dumps({"checks": [{"check": p, "probe": p, "settings": s, "interval": 60, "timeout": 5}
                                      for p, s in checks]})  # fmt: skip
    code = (
        "import sys, monitor.cli, monitor.agent.run\n"
        "from monitor.agent.checks import targets_of\n"
        f"print(len(targets_of({document.encode()!r})), 'pydantic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["4", "False"], done.stdout + done.stderr


def test_agent_commands_refuse_hostile_zone_names_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A zone name with terminal escapes or a newline is refused, escaped in the message, nothing
    stored; revoking a zone without an agent says so."""
    from monitor.cli import main
    from tests.agentcentre import centre_config

    config = tmp_path / "vigia.yml"
    config.write_text(centre_config("  - {id: ZD-01, name: Plaza, lat: 10.4, lon: -75.5, gateway: 127.0.0.1}\n")
                      .replace("{state}", str(tmp_path / "state")))  # fmt: skip
    for hostile in ("ZD-01\x1b[2J", "ZD-01\nZD-02", "../ZD-01", "ZD-01" + "x" * 5000):
        assert main(["agent", "add", hostile, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no zone" in err and "\x1b" not in err, err[:200]
    assert main(["agent", "revoke", "ZD-01", "--config", str(config)]) == 2
    assert "has no agent to revoke" in capsys.readouterr().err
    assert main(["agent", "list", "--config", str(config)]) == 0
    assert "ZD-01" not in capsys.readouterr().out  # nothing was stored


def test_the_boot_time_is_the_kernels(tmp_path: Path) -> None:
    """The agent's boot time (what tells a power cut) is now less the uptime; a /proc/stat without
    it is an error, not a boot at the epoch."""
    import time

    from monitor.agent.run import boot_time

    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert boot_time() == pytest.approx(time.time() - uptime, abs=2)
    (tmp_path / "stat").write_text("cpu  1 2 3\nctxt 5\n")
    with pytest.raises(OSError, match="no btime"):
        boot_time(str(tmp_path / "stat"))
