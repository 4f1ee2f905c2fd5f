"""A centre for the zone-agent tests: one daemon with a closed TCP target and the zones given; and
its agents: registered, their files written, run (tests and benchmarks alike)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.vigiaproc import ROOT


def centre_config(zones: str) -> str:
    """A centre's file on 1 s cycles; ``zones``: the entries under ``zones:``, indented two spaces."""
    return (
        "instance: centro\n"
        "state_dir: {state}\n"
        "defaults: {interval: 1s, timeout: 500ms}\n"
        "targets:\n"
        "  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}\n"
        "zones:\n" + zones
    )


# `python -m monitor`, as the tests and benchmarks run vigia from this checkout.
VIGIA = [sys.executable, "-m", "monitor"]


def register(config: Path, zone: str) -> str:
    """`vigia agent add ZONE` at the centre whose file is ``config``: the token it prints once."""
    done = subprocess.run([*VIGIA, "agent", "add", zone, "--config", str(config)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    return done.stdout.strip()


def agent_file(home: Path, zone: str, token: str, urls: list[str], *, ca_file: Path | None = None,
               quick: bool = True) -> Path:  # fmt: skip
    """An agent's file and token in ``home`` (its outbox beside them); ``quick``: pushing every
    second and asking for its checks every two, as the tests want; else the defaults."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "token").write_text(token.strip() + "\n")
    text = f"zone: {zone}\ncentre: [{', '.join(repr(u) for u in urls)}]\ntoken_file: token\nstate_dir: state\n"
    if ca_file is not None:
        text += f"ca_file: {ca_file}\n"
    if quick:
        text += "push_every: 1s\nrefresh_checks: 2s\ntimeout: 2s\n"
    (home / "agent.yml").write_text(text)
    return home / "agent.yml"


def run_agent(config: Path, log: Path | None, *wrapper: str) -> subprocess.Popen[bytes]:
    """`vigia agent run` on ``config`` (under ``wrapper``: a namespace, a fresh boot clock), its
    output appended to ``log`` (None: dropped)."""
    argv = [*wrapper, *VIGIA, "agent", "run", "--config", str(config), "--log-level", "DEBUG"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if log is None:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
