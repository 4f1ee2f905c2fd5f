"""vigia's ICMP engine against fping, on the same loopback targets, in the same run.

Each figure is the median of 5 cycles (vigia after one warm-up cycle; fping's
CPU includes starting the process, as a cron'd fping would). Measures wall time,
CPU microseconds per probe, replies credited to the wrong
target and live targets reported down. Every 127.x.y.z address answers, so
every target is live: any "down" is a false down.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

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


def run_vigia(n: int, timeout: float = 1.0, pace: float = 0.0) -> Row:
    """Median of REPEATS cycles after one warm-up cycle (a daemon repeats its cycles)."""
    engine = IcmpEngine(pace=pace)
    try:
        reqs = [IcmpRequest(f"t{i}", IcmpSettings(address=a), 1) for i, a in enumerate(addresses(n))]
        engine.probe_batch(reqs, deadline=time.monotonic() + timeout)
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
    finally:
        engine.close()


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
