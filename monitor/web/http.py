"""vigia's HTTP listeners: one asyncio loop per listener, no thread per connection.

Nothing in a request chooses a target, a file or a command: the paths are a fixed table, GET and
HEAD are answered from caches, and a body is read only where a handler takes one (a zone agent's
batch), within its cap and deadline. TLS, basic auth and extra headers come
from the web config (monitor.web.webconfig), re-read at each connection so a renewed certificate is
served without a restart.

What a hostile or broken client can cost, and why the listener stays up for Prometheus:

- an idle or trickling connection costs a socket and a few hundred bytes, never a thread (a
  threaded server gave every scrape a refusal once 256 slow connections were open);
- the whole request head, TLS handshake included, must arrive within ``HEAD_TIMEOUT`` of the
  connection (or of the request's first byte, between keep-alive requests), and be at most
  ``MAX_HEAD`` bytes: a slowloris client is dropped at its deadline however it trickles;
- at ``max_per_client`` connections from one address, or ``max_connections`` in all, a new
  connection pushes out the one that has waited longest for a request head (as nginx reuses its
  idle keep-alive connections), so a flood of idle connections never locks a scraper out; only
  when every connection is busy answering is the new one closed;
- a client that does not read its answer is dropped after ``WRITE_TIMEOUT``;
- a request whose Basic credentials are not cached yet (a bcrypt check, slow by design) is
  answered on a thread of its own, so a flood of wrong passwords delays no other request; an
  agent's batch (the one request with a body, capped) is stored on threads of their own too.

Each refusal and drop is counted by listener and reason (``vigia_http_connections_rejected_total``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from monitor.runtime.stats import ListenerCounts
from monitor.web.connection import Connection
from monitor.web.messages import Handler

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_PER_CLIENT = 64
# Connections the kernel queues before they are accepted (capped by net.core.somaxconn): under a
# flood of reconnects a short queue drops a scraper's SYN, which it resends only a second later.
BACKLOG = 4096
POOL_WORKERS = {"auth": 1, "ingest": 4, "api": 2}


class Connections:
    """The connections of one listener, its caps, and the thread its asyncio loop runs on.

    Connections waiting for a request head are kept in the order they began waiting, in all and
    by client, so that the one to push out at a cap is found at once: an attacker reconnecting as
    fast as it is pushed out makes thousands of these choices a second."""

    def __init__(self, handler: Handler, counts: ListenerCounts, max_connections: int, max_per_client: int) -> None:
        self.handler = handler
        self.counts = counts
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.loop = asyncio.new_event_loop()
        self.connections: set[Connection] = set()
        self.by_client: dict[str, set[Connection]] = {}
        self.waiting: OrderedDict[Connection, None] = OrderedDict()
        self.waiting_by_client: dict[str, OrderedDict[Connection, None]] = {}
        self.pools: dict[str, ThreadPoolExecutor] = {}

    def pool(self, name: str) -> ThreadPoolExecutor:
        """The named pool of slow answers (Handler.slow), made at its first use: bcrypt checks on
        one thread, agents' batches on four, reads of API documents on two (one may wait for a
        render), each queue apart from the other."""
        found = self.pools.get(name)
        if found is None:
            workers = POOL_WORKERS.get(name, 1)
            found = self.pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=f"{self.counts.name}-{name}")
        return found

    def admit(self, conn: Connection) -> bool:
        """Make room for ``conn`` (pushing out the longest-waiting connection of its client, or of
        all, at a cap), or close it when every connection is busy; whether it was admitted."""
        client = conn.client
        for pool, waiting, cap, reason in (
            (self.by_client.get(client, ()), self.waiting_by_client.get(client), self.max_per_client, "per_client"),
            (self.connections, self.waiting, self.max_connections, "full"),
        ):
            if len(pool) < cap:
                continue
            self.counts.reject(reason)
            if not waiting:
                log.debug("connection from %s refused: %s", client, reason)
                conn.abort()
                return False
            oldest = next(iter(waiting))
            log.debug("connection from %s pushed out (%s)", oldest.client, reason)
            oldest.abort()
            self.forget(oldest)
        self.connections.add(conn)
        self.by_client.setdefault(client, set()).add(conn)
        self.counts.open = len(self.connections)
        return True

    def wait(self, conn: Connection) -> None:
        """``conn`` begins waiting for a request head: the newest candidate to push out."""
        if conn in self.connections:
            self.waiting[conn] = None
            self.waiting.move_to_end(conn)
            mine = self.waiting_by_client.setdefault(conn.client, OrderedDict())
            mine[conn] = None
            mine.move_to_end(conn)

    def unwait(self, conn: Connection) -> None:
        self.waiting.pop(conn, None)
        mine = self.waiting_by_client.get(conn.client)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.waiting_by_client[conn.client]

    def forget(self, conn: Connection) -> None:
        self.unwait(conn)
        self.connections.discard(conn)
        mine = self.by_client.get(conn.client)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.by_client[conn.client]
        self.counts.open = len(self.connections)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class Listener:
    """An HTTP listener on its own thread and asyncio loop, answering with ``handler``."""

    name = "http"

    def __init__(
        self,
        listen: str,
        handler: Handler,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    ) -> None:
        host, port = parse_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, so that a port taken or an address not on this host fails the start at once.
        self.sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
        self.address = self.sock.getsockname()
        self.counts = ListenerCounts(self.name)
        self._server = Connections(handler, self.counts, max_connections, max_per_client)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._ready = threading.Event()

    @property
    def port(self) -> int:
        return int(self.address[1])

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5.0)

    def _run(self) -> None:
        loop = self._server.loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            loop.create_server(lambda: Connection(self._server), sock=self.sock, backlog=BACKLOG)
        )
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for conn in list(self._server.connections):
                conn.abort()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self) -> None:
        loop = self._server.loop
        if self._thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
        else:
            self.sock.close()
        for pool in self._server.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
