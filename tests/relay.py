"""A TCP relay for the lab: a namespace reaches the local PostgreSQL (which listens on loopback
only) through it, and the test cuts that path with iptables inside the namespace.

python -m tests.relay LISTEN_HOST LISTEN_PORT TO_HOST TO_PORT   (prints "ready" once listening)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main(listen: str, port: int, to: str, to_port: int) -> None:
    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(to, to_port)
        except OSError:
            w.close()
            return
        await asyncio.gather(pump(r, uw), pump(ur, w))

    server = await asyncio.start_server(serve, listen, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
