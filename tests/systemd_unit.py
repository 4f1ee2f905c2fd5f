"""The shipped systemd unit, for the tests that check it: its directives, and `systemd-analyze verify`
against a root that holds systemd's own units and the binaries the unit names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.vigiaproc import ROOT

UNIT = ROOT / "deploy" / "systemd" / "vigia.service"
AGENT_UNIT = ROOT / "deploy" / "systemd" / "vigia-agent.service"


def directives(unit: Path = UNIT) -> dict[str, str]:
    """KEY=value of the unit; the last of a repeated key wins, as in systemd."""
    return dict(re.findall(r"^([A-Za-z]+)=(.*)$", unit.read_text(), flags=re.M))


def verify(analyze: str, root: Path, name: str = "vigia.service") -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of ROOT/etc/systemd/system/NAME, systemd's units and kill added."""
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True, dirs_exist_ok=True)
    (root / "bin").mkdir(exist_ok=True)
    shutil.copy("/bin/kill", root / "bin/kill")
    return subprocess.run(
        [analyze, "verify", f"--root={root}", f"/etc/systemd/system/{name}"], capture_output=True, text=True
    )
