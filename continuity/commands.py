"""Running a drill's command safely.

- argv from the plan only, never a shell; argv[0] is an absolute path.
- Placeholders are whole arguments ("{unit}") filled from the drill's params, each value checked
  against a strict pattern, so a value can never become an option, a second command or a newline.
- The environment is an allowlist: only named variables pass from vigia's own environment.
- The program runs under a small helper (continuity/reaper.py) in a session and process group of
  its own; the helper is a child subreaper, so nothing the program starts outlives the step, not
  even a child it backgrounds or one that makes a session of its own. At the deadline the group
  gets SIGTERM (the helper kills every descendant), then SIGKILL.
- ``on_start`` hears the group id and the leader's start time as soon as it runs: the crash marker
  keeps them, so recovery after a crash can kill what the interrupted step left running.
- Output is capped in memory and hashed in full, so the journal keeps an excerpt and a proof.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from continuity.plan import PLACEHOLDER, PLACEHOLDER_VALUE
from kernel.errors import DrillError

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


REAPER = str(Path(__file__).with_name("reaper.py"))


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if gone.

    With the pid it names one process for good: a pid, and so a group id, is reused after a while.
    """
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def kill_left_behind(pgid: int, leader_start: int | None) -> bool:
    """Stop the group a crashed step left running, if its leader is still that same process.

    SIGTERM first (the reaper kills every descendant, new sessions included), then SIGKILL.
    Returns whether there was anything to stop.
    """
    if leader_start is None or start_time(pgid) != leader_start:
        return False
    _kill_group(pgid, signal.SIGTERM)
    end = time.monotonic() + TERM_GRACE
    while time.monotonic() < end and start_time(pgid) == leader_start:
        time.sleep(0.05)
    _kill_group(pgid, signal.SIGKILL)
    return True


class _Output:
    """The program's output: the first ``limit`` bytes kept, every byte hashed."""

    def __init__(self, limit: int) -> None:
        self.limit, self.kept, self.total, self.digest = limit, bytearray(), 0, hashlib.sha256()

    def add(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.total += len(chunk)
        if len(self.kept) < self.limit:
            self.kept += chunk[: self.limit - len(self.kept)]


def _not_started(argv: Sequence[str], t0: float, why: str) -> CommandOutcome:
    empty = hashlib.sha256().hexdigest()
    return CommandOutcome(tuple(argv), None, False, False, time.monotonic() - t0, b"", 0, empty, f"cannot start: {why}")


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    output_limit: int,
    on_start: Callable[[int, int | None], None] | None = None,
    keep_descendants: bool = False,
) -> CommandOutcome:
    """Run ``argv`` to its end or its deadline. Whatever it leaves running is killed when it exits,
    unless ``keep_descendants`` (a step that starts a service: the service is what it leaves)."""
    t0 = time.monotonic()
    if not os.access(argv[0], os.X_OK):
        return _not_started(argv, t0, os.strerror(errno.ENOENT if not os.path.exists(argv[0]) else errno.EACCES))
    try:
        proc = subprocess.Popen(
            [*([] if keep_descendants else [sys.executable, "-I", REAPER]), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return _not_started(argv, t0, exc.strerror or str(exc))
    pgid = proc.pid  # start_new_session: the reaper leads its own group
    if on_start is not None:
        on_start(pgid, start_time(pgid))
    out = _Output(output_limit)
    timed_out, killed = _pump(proc, pgid, t0 + timeout, out)
    return CommandOutcome(
        tuple(argv),
        proc.returncode if not timed_out else None,
        timed_out,
        killed,
        time.monotonic() - t0,
        bytes(out.kept),
        out.total,
        out.digest.hexdigest(),
    )


def _pump(proc: subprocess.Popen[bytes], pgid: int, deadline: float, out: _Output) -> tuple[bool, bool]:
    """Read the output until the program ends or the deadline; (timed out, needed SIGKILL)."""
    assert proc.stdout is not None
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
            if not sel.select(timeout=min(0.1, max(0.0, deadline - now))):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                if proc.poll() is not None or exited_at is not None:
                    break
                proc.wait(timeout=max(0.0, deadline - time.monotonic()) or None)
                break
            out.add(chunk)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(pgid, signal.SIGTERM)
        time.sleep(min(TERM_GRACE, 0.2))
        _kill_group(pgid, signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        sel.close()
        proc.stdout.close()
    return timed_out, killed
