"""The interpreter's heap after the start: what the start made is set aside from the cyclic
garbage collector's full collections.

Why: at 2,000 zones a full collection walked the ~300,000 objects the start made (the
configuration, the templates and catalogues, every zone's and target's state) about every 8 s,
~160 ms each: about a fifth of the daemon's CPU, for objects that live as long as the process.
``gc.freeze`` moves them to a generation no collection walks; they are still freed by their
reference counts. Only a cycle of them that later becomes garbage would stay (until a reload thaws
them): the start's objects are made once, so that is bounded, not a leak that grows.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("vigia")


class Heap:
    def __init__(self) -> None:
        self.settled = False

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
