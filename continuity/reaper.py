"""Run one drill command and leave nothing of it behind (run as a script: standard library only).

    python -I reaper.py PROGRAM [ARG ...]

A drill method may background a child (``sleep 600 &``) or start one in a new session
(``setsid``), and killing a process group reaches neither of them once they leave it. This helper
makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every orphan of the command, whatever
session it made, is re-parented to it rather than to init; when the command exits it kills every
descendant left, round by round, and exits with the command's status (128 + N for signal N).
SIGTERM makes it do the same at once: vigia sends it at a step's deadline, and recovery sends it
to the process group a crashed run left behind, before the rollback runs.

Its process group is the one vigia records in the drill's crash marker. Under systemd a
delegated cgroup would hold the same processes; the subreaper needs no privilege and works
everywhere Linux does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
SWEEP_SECONDS = 5.0  # bounded: descendants that keep forking get this long to die


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/PID/task/*/children, else a scan of /proc)."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(x) for x in fh.read().split()]
        return out
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep() -> None:
    """Kill every descendant: children now, then the orphans they leave, which come to us."""
    me = os.getpid()
    end = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < end:
        kids = children(me)
        if not kids:
            break
        for kid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(kid, signal.SIGKILL)
        time.sleep(0.01)
        _reap()
    _reap()


def _on_term(signum: int, _frame: object) -> None:
    sweep()
    os._exit(128 + signum)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: reaper.py PROGRAM [ARG ...]", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"vigia: cannot become a child subreaper (errno {ctypes.get_errno()})", file=sys.stderr)
    signal.signal(signal.SIGTERM, _on_term)
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"vigia: cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    code = 1
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # adopted orphans are reaped here too
        except ChildProcessError:
            break
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            break
    child.returncode = code  # Popen must not wait for a pid already reaped
    sweep()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
