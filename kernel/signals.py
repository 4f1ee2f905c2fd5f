"""Signals told to the main thread through a socket, never through a lock.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread is.
A handler that sets a ``threading.Event`` the main thread is waiting on can land while the main
thread holds that Event's own lock (inside ``Event.wait``): the handler then waits for a lock its
own thread holds, for ever. The daemon met it in CI: a SIGTERM after a reload, never a stop.

So the handlers here do nothing; CPython's C-level handler writes each signal's number to the
wakeup socket (``signal.set_wakeup_fd``), and the main thread reads them with a timeout, outside
any handler, and acts on them in plain code.
"""

from __future__ import annotations

import select
import signal
import socket
from types import FrameType


def _noted(_signum: int, _frame: FrameType | None) -> None:
    # The number is already on the wakeup socket; a handler is needed only so the default action
    # (terminate, for SIGTERM and SIGHUP) is not taken.
    return None


class SignalInbox:
    """The signals ``signums`` received since the last ``wait``; install and read from the main thread."""

    def __init__(self, *signums: signal.Signals) -> None:
        self._wanted = {int(s) for s in signums}
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)  # set_wakeup_fd needs it: a full socket drops, never blocks
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, _noted) for s in signums}

    def wait(self, timeout: float) -> set[signal.Signals]:
        """The wanted signals received, at once if any are pending, else within ``timeout`` seconds."""
        ready, _, _ = select.select([self._read], [], [], max(0.0, timeout))
        got: set[signal.Signals] = set()
        if not ready:
            return got
        for _ in range(64):  # bounded: each read drains up to 4 KiB of one-byte numbers
            try:
                data = self._read.recv(4096)
            except BlockingIOError:
                break
            got.update(signal.Signals(n) for n in data if n in self._wanted)
            if len(data) < 4096:
                break
        return got

    def __enter__(self) -> SignalInbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._read.close()
        self._write.close()
