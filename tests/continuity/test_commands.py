"""Drill commands: no shell, strict placeholders, own process group killed whole at the deadline."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

from continuity.commands import environment, fill, run
from kernel.errors import DrillError

PY = sys.executable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; look at its state.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_exit_code_output_and_hash() -> None:
    out = run([PY, "-c", "print('hola'); import sys; sys.exit(3)"], env={}, timeout=10, output_limit=1024)
    assert (out.exit_code, out.timed_out, out.output) == (3, False, b"hola\n")
    assert out.output_sha256 == hashlib.sha256(b"hola\n").hexdigest()


def test_output_is_capped_but_hashed_whole() -> None:
    out = run([PY, "-c", "import sys; sys.stdout.write('x' * 300000)"], env={}, timeout=10, output_limit=1024)
    assert len(out.output) == 1024 and out.output_bytes == 300000
    assert out.output_sha256 == hashlib.sha256(b"x" * 300000).hexdigest()


def test_hanging_command_with_a_child_holding_stdout_is_killed_as_a_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import os, sys, time\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.signal = None\n"
        "    import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # the child even ignores SIGTERM
        "    time.sleep(60); os._exit(0)\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child}}')\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    t0 = time.monotonic()
    out = run([PY, "-c", script], env={}, timeout=1.0, output_limit=1024)
    elapsed = time.monotonic() - t0
    parent, child = (int(x) for x in pids.read_text().split())
    assert out.timed_out and out.exit_code is None
    assert out.output == b"started\n"
    assert elapsed < 1.0 + 2.0 + 1.0
    for _ in range(50):
        if not alive(parent) and not alive(child):
            break
        time.sleep(0.05)
    assert not alive(parent) and not alive(child)


def test_a_child_left_behind_after_exit_does_not_hold_the_step(tmp_path: Path) -> None:
    script = "import os, time\nif os.fork() == 0:\n    time.sleep(5); os._exit(0)\nprint('done')\n"
    t0 = time.monotonic()
    out = run([PY, "-c", script], env={}, timeout=10, output_limit=1024)
    assert out.exit_code == 0 and not out.timed_out
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("value", ["; rm -rf /", "a\nb", "-rf", "--help", "$(reboot)", "`id`", "a b", "", "x'y"])
def test_hostile_placeholder_values_are_refused(value: str) -> None:
    with pytest.raises(DrillError, match="is not a plain word"):
        fill(["/usr/bin/systemctl", "restart", "{unit}"], {"unit": value})


def test_placeholders_fill_whole_arguments_only() -> None:
    assert fill(["/usr/bin/systemctl", "restart", "{unit}"], {"unit": "nginx.service"}) == [
        "/usr/bin/systemctl",
        "restart",
        "nginx.service",
    ]
    with pytest.raises(DrillError, match="no value"):
        fill(["/bin/echo", "{other}"], {})


def test_environment_is_an_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIA_SECRET_THING", "no-debe-pasar")
    monkeypatch.setenv("LANG", "es_CO.UTF-8")
    env = environment(["LANG"], {"DRILL": "1"})
    assert env == {"LANG": "es_CO.UTF-8", "DRILL": "1"}
    out = run(
        [PY, "-c", "import os; print(sorted(k for k in os.environ if k != 'LC_CTYPE'))"],
        env=env,
        timeout=10,
        output_limit=1024,
    )
    assert out.output.decode().strip() == "['DRILL', 'LANG']"


def test_missing_program() -> None:
    out = run(["/nonexistent/program"], env={}, timeout=5, output_limit=1024)
    assert out.exit_code is None and "cannot start" in out.error
