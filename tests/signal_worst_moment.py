"""Run the daemon with SIGTERM delivered at the worst moment: while the main thread holds a lock.

Fault injection for tests/test_signals.py. ``threading.Condition.wait`` is entered with the
condition's lock held; the first time the main thread enters it once armed, this sends the
process SIGTERM from inside, so the handler runs with that lock held. A handler that takes the
same lock (``Event.set`` on the Event being waited on) then never returns. If the main thread
waits on no Condition (a socket instead), a timer sends the SIGTERM after 3 s: the ordinary path.

usage: signal_worst_moment.py CONFIG LISTEN
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from monitor.cli.common import setup_logging
from monitor.daemon import Daemon

armed = threading.Event()
sent = threading.Lock()
original_wait = threading.Condition.wait


def send_once() -> None:
    if sent.acquire(blocking=False):
        print("worst-moment: SIGTERM sent", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)


def wait(self: threading.Condition, timeout: float | None = None) -> bool:
    if armed.is_set() and threading.current_thread() is threading.main_thread():
        send_once()  # with this Condition's lock held by the main thread
    return original_wait(self, timeout)


def arm() -> None:
    time.sleep(2.0)  # the daemon up, its first cycles run
    armed.set()
    time.sleep(3.0)
    send_once()


threading.Condition.wait = wait  # type: ignore[method-assign]
daemon = Daemon(sys.argv[1], listen=sys.argv[2])
setup_logging("INFO")
threading.Thread(target=arm, daemon=True).start()
sys.exit(daemon.serve_forever())
