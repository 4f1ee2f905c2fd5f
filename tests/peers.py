"""Real peers for the probe engine's tests, healthy and misbehaving, in a process of their own.

    python -m tests.peers --host 127.0.0.1

prints one JSON line of {kind: port} once every listener is bound, then serves until terminated.
Kinds: ``http`` (a captive portal answering 200), ``banner`` (an SSH-like greeting), ``mute``
(accepts, never answers), ``trickle`` (an HTTP answer at one byte a second), ``endless`` (an
HTTP body that never ends). Its own process, so a thousand connections cost the test process
(and the engine under test) no CPU; every connection ends by itself within a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LIFETIME = 60.0  # no connection outlives this, whatever the client does
PORTAL = b"<html><body>Zona Digital: portal cautivo OK</body></html>"


async def _request(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        await reader.readuntil(b"\r\n\r\n")


async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(PORTAL)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + PORTAL)
    await writer.drain()


async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2p1 vigia-test\r\n")
    await writer.drain()
    await reader.read(1)  # until the client closes


async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1 << 16)  # reads the request, never answers
    await asyncio.sleep(LIFETIME)


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n")
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end:
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(1.0)


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    chunk = b"z" * 65536
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end:
        writer.write(chunk)
        await writer.drain()


KINDS: dict[str, Handler] = {"http": http, "banner": banner, "mute": mute, "trickle": trickle, "endless": endless}


def _guarded(handler: Handler) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(LIFETIME + 1):
                await handler(reader, writer)
        except (OSError, TimeoutError):
            pass  # the client went away or the lifetime ended: both are expected here
        finally:
            writer.transport.abort()

    return run


async def main(host: str) -> None:
    servers = {name: await asyncio.start_server(_guarded(h), host, 0, backlog=4096) for name, h in KINDS.items()}
    ports = {name: s.sockets[0].getsockname()[1] for name, s in servers.items()}
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    await asyncio.gather(*(s.serve_forever() for s in servers.values()))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    asyncio.run(main(ap.parse_args().host))
