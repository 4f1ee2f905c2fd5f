"""A slowloris client for the tests: idle connections and connections that trickle a request head.

    python -m tests.slowloris HOST:PORT --idle 2000 --trickle 500 --sources 25 --every 10 --seconds 30

Opens ``--idle`` connections that never send a byte and ``--trickle`` ones that send a request
line and then one header byte every ``--every`` seconds, spread over ``--sources`` loopback source
addresses (127.0.2.1, 127.0.2.2, ...), and reopens each one the server closes, for ``--seconds``.
Bounded in time and count; prints one JSON line of what it saw (connections opened, closed by the
server, connects that failed, the most open at once). Traffic to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time


class Stats:
    def __init__(self) -> None:
        self.opened = 0
        self.closed_by_server = 0
        self.failed = 0
        self.open = 0
        self.most_open = 0


async def _one(host: str, port: int, source: str, trickle: bool, every: float, end: float, stats: Stats) -> None:
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(source, 0)), timeout=max(0.1, end - time.monotonic())
            )
        except (OSError, TimeoutError):
            stats.failed += 1
            await asyncio.sleep(0.2)
            continue
        stats.opened += 1
        stats.open += 1
        stats.most_open = max(stats.most_open, stats.open)
        try:
            if trickle:
                writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while time.monotonic() < end:
                wait = min(every, end - time.monotonic())
                try:
                    got = await asyncio.wait_for(reader.read(1024), timeout=max(wait, 0.01))
                except TimeoutError:
                    got = None
                if got == b"":
                    stats.closed_by_server += 1
                    break
                if trickle and got is None:
                    writer.write(b"a")
        except OSError:
            stats.closed_by_server += 1
        finally:
            stats.open -= 1
            writer.close()


async def attack(host: str, port: int, idle: int, trickle: int, sources: int, every: float, seconds: float) -> Stats:
    stats = Stats()
    end = time.monotonic() + seconds
    addresses = [f"127.0.2.{i + 1}" for i in range(sources)]
    tasks = []
    for k in range(idle + trickle):
        tasks.append(asyncio.create_task(_one(host, port, addresses[k % sources], k >= idle, every, end, stats)))
        if k % 200 == 199:
            await asyncio.sleep(0.05)  # a ramp, not one burst the accept queue would drop
    await asyncio.gather(*tasks)
    return stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--trickle", type=int, default=500)
    ap.add_argument("--sources", type=int, default=25)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")
    assert host.startswith("127."), "loopback only"
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stats = asyncio.run(attack(host, int(port), args.idle, args.trickle, args.sources, args.every, args.seconds))
    print(json.dumps(vars(stats)))


if __name__ == "__main__":
    main()
