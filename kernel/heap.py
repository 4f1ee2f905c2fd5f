"""The interpreter's heap: young collections sized for waves of checks, and what the start made
set aside from the cyclic garbage collector's full collections.

Why: at 2,000 zones a full collection walked the ~300,000 objects the start made (the
configuration, the templates and catalogues, every zone's and target's state) about every 8 s,
~160 ms each: about a fifth of the daemon's CPU, for objects that live as long as the process.
``gc.freeze`` moves them to a generation no collection walks; they are still freed by their
reference counts. Only a cycle of them that later becomes garbage would stay (until a reload thaws
them): the start's objects are made once, so that is bounded, not a leak that grows.

Young collections: CPython collects its youngest generation every 700 net allocations of container
objects. A check makes some thirty that live from a millisecond to its timeout, and at 15,000
targets every 9 s thousands start each second: a young collection ran every few milliseconds and
promoted whatever was in flight, so the old generation grew by a quarter every second or two and
was walked whole (0.15-0.35 s each, GIL held, most often on the probe loop's thread, which then ran
that late): some 6 s of collections a minute. At 50,000 a young collection walks at most that many
(about 15 ms) and most of a wave has ended by then: measured, 2.6 s of collections a minute and the
loop's worst lateness per cycle from 0.25-0.35 s down to about 0.15 s.

The typesetting workers of a long report (render.pdfworker) keep the same heap: WeasyPrint makes
boxes by the hundred thousand, and the default pace collected the youngest generation every few
hundred of them (5 % of a part's instructions, callgrind).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("vigia")

# gc.set_threshold: young collections every 50,000 net container allocations (default 700), the
# middle generation and the old one at CPython's default pace after it.
THRESHOLDS = (50_000, 20, 10)


class Heap:
    def __init__(self) -> None:
        self.settled = False
        self._before = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)

    def settle(self) -> None:
        """Once the start's work is done (every interval's first cycle): collect what it left,
        then freeze what remains."""
        if self.settled:
            return
        self.settled = True
        gc.collect()
        gc.freeze()
        log.debug("heap settled: %d objects set aside from full collections", gc.get_freeze_count())

    def thaw(self) -> None:
        """A reload replaces the configuration and the states made from it: what was frozen goes
        back to the collector (cycles among the old objects are collected), and the heap settles
        again after the next cycle."""
        gc.unfreeze()
        self.settled = False

    def close(self) -> None:
        """The interpreter as it was (a daemon run inside another program, the tests')."""
        self.thaw()
        gc.set_threshold(*self._before)
