"""Run probes in tests the way the daemon does: on one shared probe engine (probes.engine)."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable

from probes.engine import ProbeEngine
from probes.result import ProbeResult
from probes.settings import Settings

_engine: ProbeEngine | None = None
_lock = threading.Lock()


def engine() -> ProbeEngine:
    global _engine  # noqa: PLW0603 - one engine for the test session, as one per daemon
    with _lock:
        if _engine is None:
            _engine = ProbeEngine()
            atexit.register(_engine.close)
        return _engine


def on_engine(kind: str) -> Callable[..., ProbeResult]:
    """A blocking ``probe(target, settings, *, deadline)`` for ``kind`` that runs on the shared engine."""

    def probe(target: str, settings: Settings, *, deadline: float) -> ProbeResult:
        return engine().run_one(target, kind, settings, max(0.001, deadline - time.monotonic()))

    return probe
