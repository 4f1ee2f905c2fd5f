"""vigia's ICMP engine against fping, on the same loopback targets, in the same run.

Each figure is the median of 5 cycles (vigia after one warm-up cycle; fping's
CPU includes starting the process, as a cron'd fping would). Measures wall time,
CPU microseconds per probe, replies credited to the wrong
target and live targets reported down. Every 127.x.y.z address answers, so
every target is live: any "down" is a false down.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from probes.icmp import IcmpEngine, IcmpRequest, IcmpSettings


@dataclass
class Row:
    tool: str
    targets: int
    wall_s: float
    cpu_us_per_probe: float
    misattributed: int
    false_down: int


def addresses(n: int) -> list[str]:
    return [f"127.{20 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


REPEATS = 5


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


@contextlib.contextmanager
def _warmed(n: int, timeout: float, pace: float) -> Iterator[tuple[IcmpEngine, list[IcmpRequest]]]:
    """An engine and ``n`` requests after one warm-up batch, with the daemon's heap: its collector
    thresholds, and what the start made frozen after the first cycle (kernel.heap; with
    CPython's default thresholds young collections were 6 % of the engine's instructions per probe,
    which the daemon does not spend)."""
    from kernel.heap import Heap

    heap, engine = Heap(), IcmpEngine(pace=pace)
    try:
        reqs = [IcmpRequest(f"t{i}", IcmpSettings(address=a), 1) for i, a in enumerate(addresses(n))]
        engine.probe_batch(reqs, deadline=time.monotonic() + timeout)
        heap.settle()
        yield engine, reqs
    finally:
        engine.close()
        heap.close()


def run_vigia(n: int, timeout: float = 1.0, pace: float = 0.0) -> Row:
    """Median of REPEATS cycles after one warm-up cycle (a daemon repeats its cycles)."""
    with _warmed(n, timeout, pace) as (engine, reqs):
        walls, cpus, wrong, down = [], [], 0, 0
        for _ in range(REPEATS):
            cpu0, t0 = time.process_time(), time.monotonic()
            results = engine.probe_batch(reqs, deadline=time.monotonic() + timeout)
            walls.append(time.monotonic() - t0)
            cpus.append(time.process_time() - cpu0)
            wrong += sum(1 for r, q in zip(results, reqs, strict=True) if r.target != q.target)
            down += sum(1 for r in results if not r.success)
        wrong += engine.mismatched
        return Row("vigia engine", n, _median(walls), _median(cpus) / n * 1e6, wrong, down)


def run_fping(n: int, timeout: float = 1.0) -> Row | None:
    fping = shutil.which("fping") or ("/usr/bin/fping" if os.path.exists("/usr/bin/fping") else None)
    if fping is None:
        return None
    targets = addresses(n)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(targets) + "\n")
        path = fh.name
    walls, cpus, down = [], [], 0
    try:
        for _ in range(REPEATS):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            out = subprocess.run(
                [fping, "-C1", "-q", "-i", "0", "-t", str(int(timeout * 1000)), "-f", path],
                capture_output=True,
                text=True,
                timeout=120,
            )
            walls.append(time.monotonic() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            # -C output goes to stderr: "127.20.0.1 : 0.03" or "127.20.0.1 : -" for no reply.
            answered = {}
            for line in out.stderr.splitlines():
                host, _, rest = line.partition(" : ")
                answered[host.strip()] = rest.strip() != "-"
            down += sum(1 for a in targets if not answered.get(a, False))
    finally:
        os.unlink(path)
    return Row("fping -C1 -i 0", n, _median(walls), _median(cpus) / n * 1e6, 0, down)


def _batches(n: int, k: int) -> None:
    """``k`` batches of ``n`` probes after a warm-up one (what callgrind counts; valgrind runs them
    some 50 times slower, hence the long deadline)."""
    with _warmed(n, 300.0, 0.0) as (engine, reqs):
        for _ in range(k):
            engine.probe_batch(reqs, deadline=time.monotonic() + 300)


def instructions(n: int) -> tuple[float, float] | None:
    """User-space instructions per probe (valgrind's callgrind) of vigia's engine and of fping, or
    None without valgrind or fping. The seconds of a shared machine wander by half from one run to
    the next; instruction counts do not. Each is the difference of two runs (two batches of ``n``
    more for vigia, ``n`` targets more for fping), so starting up is not counted. The kernel's share
    (the system calls, which both make alike) is not in them."""
    valgrind, fping = shutil.which("valgrind"), shutil.which("fping") or "/usr/bin/fping"
    if valgrind is None or not os.path.exists(fping):
        return None
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "fping"
        shutil.copy(fping, plain)  # valgrind runs no setcap binary; a copy has none (this runs as root)

        def count(*command: str) -> int:
            out = subprocess.run([valgrind, "--tool=callgrind", f"--callgrind-out-file={tmp}/cg", *command],
                                 cwd=root, env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True,
                                 text=True, timeout=600, check=True)  # fmt: skip
            return int(re.findall(r"Collected : (\d+)", out.stderr)[-1])

        def targets(k: int) -> str:
            path = Path(tmp) / f"targets-{k}"
            path.write_text("\n".join(addresses(k)) + "\n")
            return str(path)

        fp = [str(plain), "-C1", "-q", "-i", "0", "-t", "60000", "-f"]
        vigia = [sys.executable, "-m", "benchmarks.icmp_vs_fping", "--batches"]
        ours = (count(*vigia, "2", str(n)) - count(*vigia, "0", str(n))) / (2 * n)
        theirs = (count(*fp, targets(n)) - count(*fp, targets(1))) / (n - 1)
    return ours, theirs


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="k batches of n probes (for instructions())")
    ap.add_argument("--batches", type=int, required=True)
    ap.add_argument("n", type=int)
    args = ap.parse_args()
    _batches(args.n, args.batches)
