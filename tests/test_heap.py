"""The daemon's heap after its start: what the start made is frozen once every interval has finished
a cycle (full collections no longer walk it), a reload thaws it (cycles among the old
configuration's objects are collected) and the heap settles again after the next cycle."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from tests.vigiaproc import daemon_in_process

CONFIG = """
defaults: {interval: 1s, timeout: 500ms}
targets:
  - {id: closed, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
  - {id: slow, probe: tcp, interval: 2s, tcp: {host: 127.0.0.1, port: 9}}
"""


class Cyclic:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_the_start_is_frozen_once_ready_and_a_reload_thaws_it(tmp_path: Path) -> None:
    gc.unfreeze()
    try:
        with daemon_in_process(CONFIG, tmp_path) as daemon:
            daemon.run_cycle(1.0)
            assert gc.get_freeze_count() == 0, "frozen before every interval's first cycle"
            made_at_start = Cyclic()
            gone = weakref.ref(made_at_start)
            daemon.run_cycle(2.0)
            assert daemon.runtime.heap.settled and gc.get_freeze_count() > 0
            assert gc.is_tracked(made_at_start)
            del made_at_start
            gc.collect()
            assert gone() is not None, "a frozen object is not walked by a full collection"
            daemon.run_cycle(1.0)  # settled once: a later cycle freezes nothing more
            frozen = gc.get_freeze_count()
            later = weakref.ref(Cyclic())
            daemon.run_cycle(2.0)
            assert gc.get_freeze_count() <= frozen  # frozen objects still die by their counts
            gc.collect()
            assert later() is None, "what a later cycle made is collected as before"

            (tmp_path / "c.yml").write_text(CONFIG.replace("500ms", "400ms"))
            assert daemon.reload()
            assert gc.get_freeze_count() == 0 and not daemon.runtime.heap.settled
            gc.collect()
            assert gone() is None, "thawed by the reload, the cycle was collected"
            daemon.run_cycle(1.0)
            daemon.run_cycle(2.0)
            assert daemon.runtime.heap.settled and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_young_collections_are_sized_for_waves_of_checks_while_the_daemon_runs(tmp_path: Path) -> None:
    from kernel.heap import THRESHOLDS

    # The worker's thresholds as CPython starts them, whatever an earlier test in this process left.
    found = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        with daemon_in_process(CONFIG, tmp_path) as daemon:
            daemon.run_cycle(1.0)
            assert gc.get_threshold() == THRESHOLDS
        assert gc.get_threshold() == (700, 10, 10), "a closed daemon gives the collector back as it found it"
    finally:
        gc.set_threshold(*found)
