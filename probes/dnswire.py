"""DNS on the wire for the dns and mail probes: a query built and an answer parsed by dnspython's
``dns.message``, carried by an asyncio DatagramProtocol (TCP when asked, or when the UDP answer is
truncated).

Why not dnspython's own async query: it costs about 400 us of CPU a query here, most of it in its
generic socket backend; the wire format is the hard part and stays dnspython's. Each query has its
own connected socket (the kernel picks a random source port and drops datagrams from anyone but the
server) and dnspython's random ID; an answer whose ID or question is not the query's is a failure
with that reason, never taken for the answer.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import dns.exception
import dns.flags
import dns.message

from probes import result as r
from probes.netutil import ProbeFailure, connect

_U16 = struct.Struct("!H")  # a message's ID; over TCP, the length that precedes it
_TC_BYTE = dns.flags.TC >> 8  # the truncation bit, in the header's third byte


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, query: dns.message.Message, where: str) -> None:
        self.query, self.where = query, where
        # the answer, or None when it came truncated (a cut message may not even parse: ask by TCP)
        self.done: asyncio.Future[dns.message.Message | None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.done.done():
            return
        if len(data) >= 12 and data[:2] == _U16.pack(self.query.id) and data[2] & _TC_BYTE:
            self.done.set_result(None)
            return
        try:
            self.done.set_result(answer_to(self.query, data, self.where))
        except ProbeFailure as exc:
            self.done.set_exception(exc)

    def error_received(self, exc: Exception) -> None:
        # The server's host said no one listens there (ICMP port unreachable).
        if not self.done.done():
            self.done.set_exception(exc)


def answer_to(query: dns.message.Message, wire: bytes, where: str) -> dns.message.Message:
    """``wire`` read as the answer to ``query``, or ProbeFailure saying why it is not one."""
    try:
        answer = dns.message.from_wire(wire)
    except dns.exception.DNSException as exc:
        raise ProbeFailure(r.PROTOCOL, f"{where}: unreadable answer ({type(exc).__name__}: {exc})") from None
    if not query.is_response(answer):
        raise ProbeFailure(
            r.PROTOCOL, f"{where}: an answer that is not to the query (ID {answer.id}, question "
            f"{' '.join(str(q) for q in answer.question) or 'none'}): spoofed or stray",
        )  # fmt: skip
    return answer


async def ask(query: dns.message.Message, server: str, port: int, deadline: float, *, tcp: bool) -> dns.message.Message:
    """The server's answer to ``query`` by ``deadline`` (TimeoutError past it); UDP first unless
    ``tcp``, then TCP if the UDP answer came truncated."""
    where = f"{server}:{port}"
    if not tcp:
        answer = await _udp(query, server, port, deadline, where)
        if answer is not None:
            return answer
    return await _tcp(query, server, port, deadline, where)


async def _udp(
    query: dns.message.Message, server: str, port: int, deadline: float, where: str
) -> dns.message.Message | None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    async with asyncio.timeout_at(deadline):
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _Datagram(query, where), remote_addr=(server, port), family=family
        )
        try:
            transport.sendto(query.to_wire())
            return await proto.done
        finally:
            proto.done.cancel()  # nothing left to hear once the socket goes (no unheard exception)
            transport.abort()


async def _tcp(query: dns.message.Message, server: str, port: int, deadline: float, where: str) -> dns.message.Message:
    stream = await connect(server, port, deadline)
    try:
        async with asyncio.timeout_at(deadline):
            wire = query.to_wire()
            stream.writer.write(_U16.pack(len(wire)) + wire)
            (size,) = _U16.unpack(await stream.reader.readexactly(_U16.size))
            return answer_to(query, await stream.reader.readexactly(size), where)
    except asyncio.IncompleteReadError:
        raise ProbeFailure(r.PROTOCOL, f"{where}: the connection closed inside an answer") from None
    finally:
        stream.close()
