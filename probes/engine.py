"""The probe engine: one asyncio loop, in a thread of its own, runs every network check of the process.

Why one loop and not a thread pool: with a fixed pool, a check queued behind
hung peers started after its deadline, so 32 silent zones made every other
check of the interval fail ``timeout``. Here every check

- starts at its stable offset after the batch start, in waves of WAVE (spreads a large inventory),
- takes its sockets from ``max_in_flight`` (sockets, not threads, bound concurrency),
- gets its deadline from the moment *it* starts: start + its timeout,
- is cancelled at deadline + GRACE if it has not returned (a bug, never a peer),
  reported ``timeout``, and the batch moves on without it;
- waits before it starts while the loop runs late (probes.pacing), and a timeout
  the loop noticed LATE past the deadline is reported ``late``: no data, since the
  answer may have been waiting in its socket.

A hung peer therefore costs one socket until its own deadline, never another
check's time. ICMP is not run here: its batch engine owns a raw socket and a
receiver thread and is called beside the loop (monitor.runtime.cycle).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import resource
import threading
import time
import zlib
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

from kernel.errors import ProbeSetupError
from probes import REGISTRY
from probes import result as r
from probes.pacing import Pacer
from probes.result import ProbeResult, Timer
from probes.settings import Settings

log = logging.getLogger(__name__)

# Time allowed after a check's deadline for its probe to hand back its result before it is cancelled.
GRACE = 0.5
# A timeout the loop noticed more than this past the deadline says nothing of the target: the answer
# may have been waiting in its socket while the loop was busy elsewhere (reported ``late``, no data).
LATE = 0.25
# Starts spread over a window go in waves this far apart, each check in the wave its offset falls in.
# Why: started each at its own offset, 15,000 checks over 4 s woke the loop some 3,750 times a second
# for a check or two each, and a loop turn's own work (timers, epoll, uvloop's bookkeeping) was paid
# per check: the engine alone, 200 us of CPU per check against 120 with every start at once. In waves
# of 50 ms, each task made only when its wave is due (not 15,000 sleeping from the batch's start):
# 125 us. A check's clock and deadline still start when it does.
WAVE = 0.05
# Enough for ten thousand checks with room for the ports probe's several sockets.
DEFAULT_MAX_IN_FLIGHT = 16384
# Descriptors the daemon needs besides probe sockets: store, listeners, ICMP, journal, logs, libraries.
RESERVED_FDS = 256


@dataclass(frozen=True, slots=True)
class Check:
    """One target to probe once: ``offset`` seconds after the batch starts, for at most ``timeout``."""

    target: str
    kind: str
    settings: Settings
    timeout: float
    offset: float = 0.0


@dataclass(slots=True)
class BatchOutcome:
    results: list[ProbeResult]
    exceptions: int  # probes that raised: bugs, logged with their traceback


def spread_offset(target: str, window: float) -> float:
    """A stable start offset in [0, window) for ``target``, as Prometheus spreads its scrapes.

    Stable across restarts and reloads (crc32 of the id, not Python's salted hash), so a target
    is probed at the same point of every interval.
    """
    if window <= 0:
        return 0.0
    return (zlib.crc32(target.encode()) / 2**32) * window


def sockets_needed(checks: Sequence[tuple[str, Settings]]) -> int:
    """Sockets the given (kind, settings) pairs hold at once when every peer hangs."""
    return sum(settings.sockets() for kind, settings in checks if not REGISTRY[kind].batch)


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as Prometheus does); return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20  # "unlimited" still needs a number
    if soft < target:
        with contextlib.suppress(ValueError, OSError):  # a sandbox may forbid it: the check below says so
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def check_capacity(sockets: int, max_in_flight: int, listeners: int = 0) -> None:
    """Refuse to start when the configured checks cannot all be in flight, beside the connections
    the HTTP listeners may hold (``listeners``), within the open-files limit."""
    soft, _hard = raise_open_files_limit()
    need = min(sockets, max_in_flight) + listeners + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and need > soft:
        served = f", {listeners} connections to the listeners" if listeners else ""
        raise ProbeSetupError(
            r.INTERNAL,
            f"the configured checks may hold {sockets} sockets at once (every peer hanging){served}; with "
            f"{RESERVED_FDS} descriptors for the daemon itself that needs {need} open files, but the "
            f"limit is {soft}: raise LimitNOFILE= in the systemd unit (or ulimit -n), or probe fewer targets",
        )


class _Slots:
    """A counting limiter whose holders take several units at once, all or none (no partial holds)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiting = 0
        self._changed = asyncio.Condition()

    def try_take(self, n: int) -> int:
        """Take ``n`` units at once if they are free (the usual case: no await); 0 if not."""
        n = min(n, self.size)  # a single check larger than the whole pool still runs, alone
        if self._waiting or self.free < n:
            return 0
        self.free -= n
        return n

    async def take(self, n: int) -> int:
        n = min(n, self.size)
        self._waiting += 1
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self.free >= n)
                self.free -= n
        finally:
            self._waiting -= 1
        return n

    def give(self, n: int) -> None:
        self.free += n
        if self._waiting:  # wake waiters only when there are some: a task per release costs
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


class _Wait:
    """The engine's wait for one probe: until the probe ends, or its deadline + GRACE has passed on a
    loop that is on time. A loop that reaches that moment LATE past it was busy, not the probe: the
    probe's own timeout is due too and has had no turn yet, so it gets a fresh grace before it is
    called stuck. No closures: a timer calling a function that re-arms it would be a reference cycle
    per check for the collector."""

    __slots__ = ("_due", "_handle", "_loop", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self._loop, self._due = loop, due
        self.done: asyncio.Future[None] = loop.create_future()
        self._handle = loop.call_later(max(0.0, due - time.monotonic()), self._alarm)

    def end(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        self._handle.cancel()  # a cancelled handle lets go of its callback, this object's method

    def _alarm(self) -> None:
        if self.done.done():
            return
        now = time.monotonic()
        if now - self._due > LATE:
            self._due = now + GRACE
            self._handle = self._loop.call_later(GRACE, self._alarm)
            return
        self.done.set_result(None)


class ProbeEngine:
    """Owns the loop thread. ``run`` may be called from any other thread, by several at once."""

    def __init__(self, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT, *, fast_loop: bool = True) -> None:
        self.max_in_flight = max_in_flight
        # uvloop (libuv) halves the loop's own CPU per socket operation against asyncio's pure-Python
        # selector loop (measured: a loopback connect-and-close 185 -> 80 us); on one loop that serves
        # every check, that is the daemon's capacity. A zone agent runs a handful of checks a minute
        # and counts its megabytes instead: libuv costs it some 10 MB resident (fast_loop=False).
        if fast_loop:
            import uvloop

            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self._slots: _Slots | None = None
        self._pacer: Pacer | None = None
        self._busy: set[str] = set()  # targets whose probe has not ended; touched on the loop only
        self.cancelled = 0  # probes cancelled past their deadline + grace (bugs)
        self.late = 0  # timeouts the loop noticed too late to blame on the target
        self.peak_in_flight = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="probe-loop", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._slots = _Slots(self.max_in_flight)
        self._pacer = Pacer(self.loop)
        self._ready.set()
        self.loop.run_forever()

    @property
    def in_flight(self) -> int:
        slots = self._slots
        return 0 if slots is None else slots.size - slots.free

    @property
    def held(self) -> int:
        """Checks whose start waited for the loop to catch up (probes.pacing)."""
        pacer = self._pacer
        return 0 if pacer is None else pacer.held

    def take_loop_lag(self) -> float:
        """The loop's worst lateness since the last call. Read from another thread: a tick landing
        between the read and the reset is lost, a microsecond's window on a figure kept for a cycle."""
        pacer = self._pacer
        return 0.0 if pacer is None else pacer.take_worst()

    def submit(self, checks: Sequence[Check]) -> concurrent.futures.Future[BatchOutcome]:
        """Start probing ``checks`` on the loop; the future holds one result per check, in order."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("ProbeEngine.submit called from its own loop")
        return asyncio.run_coroutine_threadsafe(self._batch(checks), self.loop)

    def run(self, checks: Sequence[Check]) -> BatchOutcome:
        """Probe every check once and wait; blocks the calling thread only, never the loop."""
        return self.submit(checks).result()

    def run_one(self, target: str, kind: str, settings: Settings, timeout: float) -> ProbeResult:
        """One check now, as `vigia probe` and the drills' probe steps do."""
        return self.run([Check(target, kind, settings, timeout)]).results[0]

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=1.0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_all(), self.loop).result(timeout=3)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()

    # -- on the loop ---------------------------------------------------

    async def _batch(self, checks: Sequence[Check]) -> BatchOutcome:
        box = [0]
        pacer = self._pacer
        assert pacer is not None
        pacer.begin()
        try:
            results = await asyncio.gather(*await self._start_in_waves(checks, box))
        finally:
            pacer.end()
        return BatchOutcome(list(results), box[0])

    async def _start_in_waves(self, checks: Sequence[Check], exceptions: list[int]) -> list[asyncio.Task[ProbeResult]]:
        """Each check's task, made when its wave is due: the checks whose offsets fall in the same
        WAVE start together, in the order of their offsets."""
        t0 = time.monotonic()
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[ProbeResult] | None] = [None] * len(checks)
        try:
            # In offset order, so the waves come one after the other: only a wave's first check waits.
            for k in sorted(range(len(checks)), key=lambda k: checks[k].offset):
                if (delay := t0 + math.floor(checks[k].offset / WAVE) * WAVE - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                tasks[k] = loop.create_task(self._check(checks[k], exceptions))
        except asyncio.CancelledError:  # the engine closes: the checks already started go with it
            for task in tasks:
                if task is not None:
                    task.cancel()
            raise
        return cast(list[asyncio.Task[ProbeResult]], tasks)

    async def _check(self, check: Check, exceptions: list[int]) -> ProbeResult:
        if check.target in self._busy:
            return Timer().fail(
                check.target, check.kind, r.OVERRUN, "the previous probe of this target has not returned yet"
            )
        kind = REGISTRY.get(check.kind)
        if kind is None:
            return Timer().fail(check.target, check.kind, r.INTERNAL, f"unknown probe kind {check.kind!r}")
        slots, pacer = self._slots, self._pacer
        assert slots is not None and pacer is not None
        held = slots.try_take(check.settings.sockets()) if pacer.calm() else 0
        admitted = False
        try:
            if not held:
                async with asyncio.timeout(check.timeout):
                    await pacer.admit()
                    admitted = True
                    held = await slots.take(check.settings.sockets())
        except TimeoutError:
            why = (
                f"no free socket slot within {check.timeout:g}s: max_in_flight ({self.max_in_flight}) is too low"
                if admitted
                else f"not started: vigia's probe loop ran {pacer.lag:.2f}s late or more for {check.timeout:g}s "
                "(more checks than it can serve)"
            )
            return Timer().fail(check.target, check.kind, r.OVERRUN, why)
        self.peak_in_flight = max(self.peak_in_flight, slots.size - slots.free)
        self._busy.add(check.target)
        timer = Timer()  # the check starts now: its deadline counts from here, not from the batch
        deadline = time.monotonic() + check.timeout
        loop = asyncio.get_running_loop()
        probe = cast(Coroutine[Any, Any, ProbeResult], kind.probe(check.target, check.settings, deadline=deadline))
        task = loop.create_task(probe)
        # One future and one timer instead of asyncio.wait(): the cheapest way to stop waiting at the
        # deadline + GRACE while the probe's own task keeps its sockets until it has really ended.
        wait = _Wait(loop, deadline + GRACE)

        def _ended(_t: asyncio.Task[ProbeResult]) -> None:
            # Sockets and the target come back when the probe has really ended, not when we stopped waiting.
            slots.give(held)
            self._busy.discard(check.target)
            wait.end()

        task.add_done_callback(_ended)
        try:
            await wait.done
        finally:
            wait.close()
        return self._outcome(check, task, timer, exceptions)

    def _outcome(
        self, check: Check, task: asyncio.Task[ProbeResult], timer: Timer, exceptions: list[int]
    ) -> ProbeResult:
        """The probe's result once its deadline (plus GRACE) passed or it ended: a timeout, a bug in
        the probe, or its own result on the engine's clock."""
        if not task.done():
            task.cancel()
            self.cancelled += 1
            log.warning(
                "target %s: %s probe still running %.3gs after its %.3gs deadline: cancelled",
                check.target,
                check.kind,
                GRACE,
                check.timeout,
            )
            return timer.fail(check.target, check.kind, r.TIMEOUT, f"no result within the {check.timeout:g}s deadline")
        exc = task.exception()
        if exc is not None:  # a bug in a probe: report it, keep the batch going
            exceptions[0] += 1
            log.error("probe %s of target %s raised", check.kind, check.target, exc_info=exc)
            return timer.fail(check.target, check.kind, r.INTERNAL, f"probe raised {type(exc).__name__}: {exc}")
        result: ProbeResult = task.result()
        elapsed = timer.elapsed()
        if result.reason == r.TIMEOUT and elapsed - check.timeout > LATE:
            self.late += 1
            return timer.fail(
                check.target,
                check.kind,
                r.LATE,
                f"vigia's probe loop noticed the {check.timeout:g}s deadline {elapsed - check.timeout:.2f}s late "
                "(too busy): nothing is known of the target",
            )
        # The check's clock is the engine's: it started when its deadline was set, even if the loop,
        # busy with thousands of others, first ran the probe a moment later.
        return result.restamped(timer.started_at, elapsed)
