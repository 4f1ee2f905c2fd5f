"""The probe loop's own lateness, and check starts held back while it runs late.

Why: one loop serves every check. Handed more starts than it can serve, it falls behind on all of
them at once: answers that came in time wait in socket buffers while the deadline timers, due as
well, run first (libuv runs timers before polling), and healthy targets are reported ``timeout``.
Measured on a 2-core machine, 15,000 targets every 9 s with starts spread over 4 s: the loop ran
1-3 s late, loopback checks that answer in a millisecond took 1-4 s, and about half the healthy
targets were reported down, while the daemon used under one core (the loop was waiting for the GIL
as much as working).

So the loop measures how late it runs (a tick every ``TICK`` seconds, while checks are under way),
and while it runs ``LIMIT`` late or more, new checks wait before they start (their deadline then
counts from their real start), released a few per tick, first come first served, once the loop has
caught up. A check kept waiting for its whole timeout is not started at all (``overrun``: no data).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

# How often the loop looks at its own clock while checks are under way (an idle engine does not tick).
TICK = 0.01
# Lateness from which new starts wait: far above a healthy loop's (well under 10 ms), well below the
# 0.25 s from which a timeout is reported ``late`` (probes.engine.LATE).
LIMIT = 0.1
# Starts released per tick once the loop has caught up; the loop then runs them all before its next
# tick, some 50 ms of work at 200 us a start. 32 capped the starts near 2,000 a second on a 2-core
# machine, below what the loop could serve: 15,000 targets spread over 4 s queued, waited past their
# 2 s timeout and were reported ``overrun``. At 256 the same cycle ends on time (6.1 s: 4 s of starts
# and the timeout); 1,024 was no faster.
BURST = 256


class Pacer:
    """Lives on the probe loop: every method is called from that loop's thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._users = 0  # batches under way: the tick runs only while there are some
        self._due = 0.0
        self._ticking = False
        self._waiting: deque[asyncio.Future[None]] = deque()
        self.lag = 0.0  # how late the last tick ran
        self.worst = 0.0  # the worst lateness since it was last taken
        self.held = 0  # checks whose start had to wait

    def calm(self) -> bool:
        """Whether a check may start now without waiting (nobody waits, the loop is on time)."""
        return not self._waiting and self.lag < LIMIT

    async def admit(self) -> None:
        """Return once this check may start: at once when calm, else in its turn as the loop catches up."""
        if self.calm():
            return
        self.held += 1
        turn = self._loop.create_future()
        self._waiting.append(turn)
        await turn  # a timeout around this cancels the future; the tick skips it

    def take_worst(self) -> float:
        """The worst lateness since the last call (the cycle's figure), and start again from now."""
        worst, self.worst = self.worst, self.lag
        return worst

    def begin(self) -> None:
        self._users += 1
        if not self._ticking:
            self._ticking = True
            self.lag = 0.0
            self._due = time.monotonic() + TICK
            self._loop.call_later(TICK, self._tick)

    def end(self) -> None:
        self._users -= 1

    def _tick(self) -> None:
        now = time.monotonic()
        self.lag = max(0.0, now - self._due)
        self.worst = max(self.worst, self.lag)
        if self._users <= 0 and not self._waiting:
            self._ticking = False
            self.lag = 0.0
            return
        self._due = now + TICK
        self._loop.call_later(TICK, self._tick)
        if self.lag >= LIMIT:
            return
        released = 0
        while released < BURST and self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():  # a check that gave up waiting has its future cancelled
                turn.set_result(None)
                released += 1
