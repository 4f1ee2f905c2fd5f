"""What a long command is doing, told to the person at the terminal: each step as it starts and
ends. Silent when nobody watches (stderr is not a terminal, or --quiet), so that scripts, cron and
the daemon's logs get only the command's results."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self._started = time.monotonic()

    @classmethod
    def for_terminal(cls, *, quiet: bool = False, stream: TextIO | None = None) -> Progress:
        out = stream if stream is not None else sys.stderr
        return cls(not quiet and out.isatty(), out)

    def say(self, text: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self._started
            print(f"[{elapsed:6.1f}s] {text}", file=self.stream, flush=True)


NOBODY = Progress(False)
