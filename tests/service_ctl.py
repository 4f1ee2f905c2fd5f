"""A tiny service manager for drill tests: start, stop or restart a real HTTP service by pidfile.

    python tests/service_ctl.py start   --pidfile P --bind 127.0.0.1 --port 18080
    python tests/service_ctl.py stop    --pidfile P
    python tests/service_ctl.py restart --pidfile P --bind 127.0.0.1 --port 18080 [--delay 0.5]

``start`` detaches the service (own session, stdio to /dev/null), waits until it answers, and
exits 0; the service itself stops on its own after --seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def running(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def start(args: argparse.Namespace) -> int:
    if running(args.pidfile):
        return 0
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "portal_server.py"),
            "--bind",
            args.bind,
            "--port",
            str(args.port),
            "--seconds",
            str(args.seconds),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    args.pidfile.write_text(str(proc.pid))
    for _ in range(100):
        try:
            socket.create_connection((args.bind, args.port), timeout=0.2).close()
            return 0
        except OSError:
            time.sleep(0.05)
    return 1


def stop(args: argparse.Namespace) -> int:
    pid = running(args.pidfile)
    if pid is None:
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    args.pidfile.unlink(missing_ok=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["start", "stop", "restart"])
    ap.add_argument("--pidfile", type=Path, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--delay", type=float, default=0.0, help="pause between stop and start (restart)")
    args = ap.parse_args()
    if args.action == "start":
        return start(args)
    if args.action == "stop":
        return stop(args)
    stop(args)
    time.sleep(args.delay)
    return start(args)


if __name__ == "__main__":
    sys.exit(main())
