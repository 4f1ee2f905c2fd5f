"""Running a drill's command safely.

- argv from the plan only, never a shell; argv[0] is an absolute path.
- Placeholders are whole arguments ("{unit}") filled from the drill's params, each value checked
  against a strict pattern, so a value can never become an option, a second command or a newline.
- The environment is an allowlist: only named variables pass from vigia's own environment.
- The program gets its own session and process group; at the deadline the whole group gets
  SIGTERM, then SIGKILL, so a child that outlives its parent (or holds the output pipe) dies too.
- Output is capped in memory and hashed in full, so the journal keeps an excerpt and a proof.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from continuity.plan import PLACEHOLDER, PLACEHOLDER_VALUE
from probes.errors import DrillError

# Time a process group gets between SIGTERM and SIGKILL.
TERM_GRACE = 2.0
# After the program exits, how long its output pipe is still read (a child may hold it open).
DRAIN_AFTER_EXIT = 0.5


@dataclass(frozen=True)
class CommandOutcome:
    argv: tuple[str, ...]
    exit_code: int | None
    timed_out: bool
    killed: bool
    duration: float
    output: bytes
    output_bytes: int
    output_sha256: str
    error: str = ""


def fill(argv: Sequence[str], params: Mapping[str, str]) -> list[str]:
    """Replace whole-argument placeholders; refuse any value that is not a plain word."""
    out = []
    for item in argv:
        m = PLACEHOLDER.match(item)
        if m is None:
            out.append(item)
            continue
        name = m.group(1)
        if name not in params:
            raise DrillError(f"no value for placeholder {{{name}}}")
        value = params[name]
        if not PLACEHOLDER_VALUE.match(value):
            raise DrillError(f"placeholder {{{name}}} refused: {value!r} is not a plain word")
        out.append(value)
    return out


def environment(allow: Sequence[str], fixed: Mapping[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in allow if k in os.environ}
    env.update(fixed)
    return env


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)


def run(argv: Sequence[str], *, env: Mapping[str, str], timeout: float, output_limit: int) -> CommandOutcome:
    t0 = time.monotonic()
    deadline = t0 + timeout
    digest = hashlib.sha256()
    kept = bytearray()
    total = 0
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return CommandOutcome(
            tuple(argv),
            None,
            False,
            False,
            time.monotonic() - t0,
            b"",
            0,
            digest.hexdigest(),
            f"cannot start: {exc.strerror}",
        )
    assert proc.stdout is not None
    pgid = proc.pid  # start_new_session: the child leads its own group
    timed_out = killed = False
    exited_at: float | None = None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while True:
            now = time.monotonic()
            if proc.poll() is not None and exited_at is None:
                exited_at = now
            if exited_at is not None and now - exited_at > DRAIN_AFTER_EXIT:
                break  # a leftover child holds the pipe: stop reading, the program itself is done
            if now >= deadline and proc.poll() is None:
                timed_out = True
                _kill_group(pgid, signal.SIGTERM)
                try:
                    proc.wait(timeout=TERM_GRACE)
                except subprocess.TimeoutExpired:
                    killed = True
                _kill_group(pgid, signal.SIGKILL)  # whatever of the group is left, even if the leader died
                proc.wait(timeout=5)
                break
            wait_for = min(0.1, max(0.0, deadline - now))
            if not sel.select(timeout=wait_for):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                if proc.poll() is not None or exited_at is not None:
                    break
                proc.wait(timeout=max(0.0, deadline - time.monotonic()) or None)
                break
            digest.update(chunk)
            total += len(chunk)
            if len(kept) < output_limit:
                kept += chunk[: output_limit - len(kept)]
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(pgid, signal.SIGTERM)
        time.sleep(min(TERM_GRACE, 0.2))
        _kill_group(pgid, signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        sel.close()
        proc.stdout.close()
    return CommandOutcome(
        tuple(argv),
        proc.returncode if not timed_out else None,
        timed_out,
        killed,
        time.monotonic() - t0,
        bytes(kept),
        total,
        digest.hexdigest(),
    )
