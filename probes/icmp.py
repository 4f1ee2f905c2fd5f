"""ICMP echo probe: one shared raw socket per address family, batch per cycle.

Why not ``ping3.ping()`` from a thread pool: every raw socket sees every ICMP
reply, ping3's id derives from pid/thread and its sequence is always 0, so under
load replies get credited to the wrong target and live hosts look down. Here one
engine per daemon owns one raw socket per family and one receiver thread; every
echo request gets a fresh sequence number and a reply counts only when id,
sequence and source address all match. ping3 builds the checksum and parses
the headers; the kernel timestamps each reply (SO_TIMESTAMPNS).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, NoReturn

import msgspec
from msgspec import Meta

from kernel.errors import ProbeSetupError
from probes import icmpwire as wire
from probes import result as r
from probes.batch import BatchRequest
from probes.icmpreplies import KIND, Job, summarise
from probes.result import MetricSpec, ProbeResult, Timer
from probes.settings import Name, Settings

log = logging.getLogger(__name__)


class IcmpSettings(Settings, frozen=True):
    """Settings of an ``icmp`` target."""

    address: Annotated[Name, Meta(description="IPv4/IPv6 address or host name")]
    packets: Annotated[int, Meta(ge=1, le=100, description="defaults.packets if unset")] | None = None
    size: Annotated[int, Meta(ge=8, le=1400, description="ICMP payload bytes")] = 56
    # the probe fails when more than this share of packets is lost
    max_loss_ratio: Annotated[float, Meta(ge=0.0, lt=1.0)] = 0.99


METRICS = (
    MetricSpec(
        "rtt_min_seconds",
        "icmp_rtt_seconds",
        "ICMP echo round-trip time of the last cycle.",
        const_labels=(("stat", "min"),),
    ),
    MetricSpec("rtt_avg_seconds", "icmp_rtt_seconds", "", const_labels=(("stat", "avg"),)),
    MetricSpec("rtt_max_seconds", "icmp_rtt_seconds", "", const_labels=(("stat", "max"),)),
    MetricSpec("rtt_jitter_seconds", "icmp_rtt_seconds", "", const_labels=(("stat", "jitter"),)),
    MetricSpec("loss_ratio", "icmp_packet_loss_ratio", "Share of echo requests unanswered in the last cycle (0-1)."),
    MetricSpec("packets_sent", "icmp_packets_sent", "Echo requests sent in the last cycle."),
    MetricSpec("packets_received", "icmp_packets_received", "Matching echo replies received in the last cycle."),
)


@dataclass(slots=True)
class _Waiter:
    """Counts one batch's replies still expected; wakes the batch when none are left."""

    outstanding: int = 0
    sending: bool = True
    done: threading.Event = field(default_factory=threading.Event)


class _Slot(msgspec.Struct):
    """One echo request in flight (a msgspec struct: built in C, one per packet)."""

    address: str
    job: Job
    index: int
    seq: int
    waiter: _Waiter
    sent_ns: int = 0
    rtt: float | None = None


# Targets' addresses whose parsed form an engine keeps (a daemon's whole configuration and then some).
_LITERALS_KEPT = 65536
_UNSEEN: tuple[int, str] = (-1, "")  # not parsed yet (a parsed address is (family, text), a name None)

# A batch request whose settings are IcmpSettings (probes.batch).
IcmpRequest = BatchRequest


def _not_icmp(settings: Settings) -> NoReturn:
    raise TypeError(f"an ICMP batch takes IcmpSettings, not {type(settings).__name__}")


class IcmpEngine:
    """Shared ICMP sender/receiver. Thread-safe; several batches may overlap."""

    def __init__(self, *, pace: float = 0.0001, round_interval: float = 0.05) -> None:
        self.pace = pace
        self.round_interval = round_interval
        self._ident = random.randrange(1, 0xFFFF)
        self._seq = random.randrange(0, 0xFFFF)
        self._lock = threading.Lock()
        self._pending: dict[int, _Slot] = {}
        self._stop = threading.Event()
        self._sockets: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._setup_error: ProbeSetupError | None = None
        self._literals: dict[str, tuple[int, str] | None] = {}  # address -> (family, canonical text)
        self._resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="icmp-resolve")
        self.duplicates = 0
        self._senders = 0  # batches currently sending (they drain the socket themselves)
        self.mismatched = 0  # replies with our id and a known sequence but from the wrong source
        self._open(socket.AF_INET)

    # -- sockets ---------------------------------------------------------

    def _open(self, family: int) -> socket.socket | None:
        if family in self._sockets:
            return self._sockets[family]
        try:
            sock = wire.open_socket(family)
        except ProbeSetupError as exc:
            if exc.reason != r.PERMISSION:
                raise
            self._setup_error = exc  # each batch reports it as its targets' reason
            return None
        if sock is None:
            return None
        self._sockets[family] = sock
        thread = threading.Thread(target=self._receive_loop, args=(sock, family), name=f"icmp-rx-{family}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return sock

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
        self._resolver.shutdown(wait=False, cancel_futures=True)

    # -- receiving -------------------------------------------------------

    def _receive_loop(self, sock: socket.socket, family: int) -> None:
        while not self._stop.is_set():
            if self._senders:
                # A batch is sending and drains the socket itself between sends: stay out of its
                # way, since every GIL hand-over between two Python threads costs more than a reply.
                time.sleep(0.002)
                continue
            try:
                ready, _, _ = select.select([sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            # Replies carry kernel timestamps, so handling them a moment later costs no accuracy.
            time.sleep(0.001)
            if self._drain(sock, family, 8192) < 0:
                return

    def _drain(self, sock: socket.socket, family: int, limit: int) -> int:
        """Read and credit up to ``limit`` queued replies without blocking; -1 if the socket is gone."""
        replies: list[tuple[int, str, int]] = []
        count = wire.read_replies(sock, family, self._ident, limit, replies)
        # Read first, credit after: one lock round for the replies read, not one per reply.
        if replies:
            self._credit(replies)
        return count

    def _credit(self, replies: list[tuple[int, str, int]]) -> None:
        """Credit each (sequence, source, kernel receive time) to its request in flight."""
        pending = self._pending
        with self._lock:
            for seq, source, rx_ns in replies:
                slot = pending.get(seq)
                if slot is None or not slot.sent_ns:
                    continue
                if slot.address != source:
                    self.mismatched += 1
                    continue
                if slot.rtt is not None:
                    self.duplicates += 1
                    continue
                rtt = (rx_ns - slot.sent_ns) / 1e9
                slot.rtt = rtt = rtt if rtt > 0.0 else 0.0  # a clock stepped back: no negative time
                slot.job.rtts[slot.index] = rtt
                waiter = slot.waiter
                waiter.outstanding -= 1
                if waiter.outstanding == 0 and not waiter.sending:
                    waiter.done.set()

    # -- sending ---------------------------------------------------------

    def _next_seq(self) -> int:
        # Called with the lock held; skips numbers still in flight after a wrap.
        for _ in range(0x10000):
            self._seq = (self._seq + 1) & 0xFFFF
            if self._seq not in self._pending:
                return self._seq
        raise ProbeSetupError(r.INTERNAL, "more than 65535 ICMP echo requests in flight")

    def _jobs(self, requests: Sequence[IcmpRequest], deadline: float) -> list[Job]:
        """Each request's job, its address parsed (once per engine) or its host name resolved by
        ``deadline``; a name that does not resolve is the job's DNS failure."""
        known, jobs, named = self._literals, list[Job](), list[tuple[Job, str]]()
        if len(known) > _LITERALS_KEPT:
            known.clear()  # addresses no longer configured go; a cycle refills the rest
        for q in requests:
            settings = q.settings if isinstance(q.settings, IcmpSettings) else _not_icmp(q.settings)
            address = settings.address
            # A dict, not an lru_cache: its bookkeeping per hit cost more than the lookup. One get,
            # not a test then an index: another batch's thread may clear it in between.
            got = known.get(address, _UNSEEN)
            if got is _UNSEEN:
                got = known.setdefault(address, wire.literal(address))
            if got is None:
                jobs.append(job := Job(q.target, settings, q.packets, rtts=[None] * q.packets))
                named.append((job, address))
            else:
                jobs.append(Job(q.target, settings, q.packets, got[0], got[1], rtts=[None] * q.packets))
        if not named:
            return jobs
        resolved = wire.resolve(self._resolver, {name for _job, name in named}, deadline)
        for job, name in named:
            found = resolved[name]
            if isinstance(found, str):
                job.error_reason, job.error_message = r.DNS, f"{name}: {found}"
            else:
                job.family, job.address = found
        return jobs

    def probe_batch(self, requests: Sequence[IcmpRequest], *, deadline: float) -> list[ProbeResult]:
        """Probe every request once per packet; return one result per request, in order.

        Sends round by round (packet k of every target, then k+1), paced, then
        waits for replies until ``deadline`` (monotonic) at the latest.
        """
        timer = Timer()
        jobs = self._jobs(requests, deadline)
        slots: list[_Slot] = []
        waiter = _Waiter()
        rounds = max((j.packets for j in jobs), default=0)
        sent_at_round_start = time.monotonic()
        for k in range(rounds):
            if k:
                pause = self.round_interval - (time.monotonic() - sent_at_round_start)
                if pause > 0 and time.monotonic() + pause < deadline:
                    time.sleep(pause)
            sent_at_round_start = time.monotonic()
            batch = [j for j in jobs if k < j.packets and not j.error_reason]
            with self._lock:
                self._senders += 1
            try:
                slots.extend(self._send_round(batch, k, deadline, waiter))
            finally:
                with self._lock:
                    self._senders -= 1
        with self._lock:
            waiter.sending = False
            if waiter.outstanding <= 0:
                waiter.done.set()
        waiter.done.wait(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            # Late replies find no slot and are ignored: they count as lost.
            for slot in slots:
                self._pending.pop(slot.seq, None)
        duration = timer.elapsed()
        return [summarise(job, timer, duration) for job in jobs]

    def _send_round(self, jobs: Sequence[Job], index: int, deadline: float, waiter: _Waiter) -> list[_Slot]:
        slots: list[_Slot] = []
        # One lock round for the whole round's sequence numbers, not one per packet.
        with self._lock:
            planned, pending, seq = [], self._pending, self._seq
            for job in jobs:
                # The next number, unless it is still in flight (after a wrap): then the careful path.
                seq = (seq + 1) & 0xFFFF
                if seq in pending:
                    self._seq = seq
                    seq = self._next_seq()
                slot = pending[seq] = _Slot(job.address, job, index, seq, waiter)
                planned.append(slot)
            self._seq = seq
            waiter.outstanding += len(planned)
        start = time.monotonic()
        pace, ident, monotonic, time_ns = self.pace, self._ident, time.monotonic, time.time_ns
        sockets, requester = self._sockets, wire.requester
        late, family, size = False, -1, -1
        sock: socket.socket | None = None
        request: Callable[[int], bytes]  # set at the first packet: no family is -1
        for n, (job, slot) in enumerate(zip(jobs, planned, strict=True)):
            # The clock is read every 64th packet; once past the deadline, nothing more is sent.
            if late or (n & 63 == 0 and monotonic() >= deadline):
                late = True
                self._unplan(slot, waiter)
                job.error_reason = job.error_reason or r.TIMEOUT
                job.error_message = job.error_message or "deadline reached before all packets were sent"
                continue
            if job.family != family or job.settings.size != size:
                # A batch is nearly always one kind of request: socket and packet maker change with it.
                family, size = job.family, job.settings.size
                sock, request = sockets.get(family) or self._open(family), requester(family, ident, size)
            if sock is None:
                self._unplan(slot, waiter)
                job.error_reason = r.PERMISSION if self._setup_error else r.UNREACHABLE
                job.error_message = str(self._setup_error) if self._setup_error else "IPv6 is not available here"
                continue
            # Pace sends on a schedule, not per packet: a sleep per packet costs more than a send.
            if pace:
                ahead = start + n * pace - monotonic()
                if ahead > 0.001:
                    time.sleep(ahead)
            if n & 31 == 31:
                self._drain(sock, family, 64)
            packet = request(slot.seq)
            slot.sent_ns = time_ns()
            try:
                sock.sendto(packet, (job.address, 0))
            except OSError:
                # A full send buffer or a refusal: the slow path waits, retries or names the reason.
                err = self._sendto(sock, packet, job.address, deadline, slot)
                if err:
                    self._unplan(slot, waiter)
                    job.error_reason, job.error_message = err
                    continue
            slots.append(slot)
        return slots

    def _unplan(self, slot: _Slot, waiter: _Waiter) -> None:
        with self._lock:
            self._pending.pop(slot.seq, None)
            waiter.outstanding -= 1

    def _sendto(
        self, sock: socket.socket, packet: bytes, address: str, deadline: float, slot: _Slot
    ) -> tuple[str, str] | None:
        for _ in range(100):  # a full send buffer drains in microseconds on any sane host
            slot.sent_ns = time.time_ns()
            try:
                sock.sendto(packet, (address, 0))
                return None
            except (BlockingIOError, InterruptedError):
                select.select([], [sock], [], min(0.01, max(0.0, deadline - time.monotonic())))
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EACCES):
                    return r.PERMISSION, f"sending to {address} was refused: {exc.strerror}"
                return r.UNREACHABLE, f"cannot send to {address}: {exc.strerror}"
            if time.monotonic() >= deadline:
                break
        return r.TIMEOUT, f"socket send buffer stayed full; nothing sent to {address}"


_shared: IcmpEngine | None = None
_shared_lock = threading.Lock()


def shared_engine() -> IcmpEngine:
    """The process-wide engine, opened on first use (one raw socket per daemon)."""
    global _shared  # noqa: PLW0603 - one engine per process is the design
    with _shared_lock:
        if _shared is None:
            _shared = IcmpEngine()
        return _shared


SETTINGS = IcmpSettings  # what probes.REGISTRY validates a check of this kind with
ENGINE = IcmpEngine  # the kind probes in batches: one raw socket shared by a cycle (probes.batch)


async def probe(target: str, settings: IcmpSettings, *, deadline: float, packets: int = 3) -> ProbeResult:
    """Probe one target through the shared engine (same shape as the other probes); the batch
    engine waits on its own receiver thread, so it runs beside the loop, not on it."""
    count = settings.packets or packets
    try:
        engine = shared_engine()
    except ProbeSetupError as exc:
        return Timer().fail(target, KIND, exc.reason, str(exc))
    batch = await asyncio.to_thread(engine.probe_batch, [IcmpRequest(target, settings, count)], deadline=deadline)
    return batch[0]
