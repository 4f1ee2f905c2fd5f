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
import functools
import socket
import struct

import dns.entropy
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


@functools.lru_cache(maxsize=4096)
def _template(name: str, rdtype: str, recursion: bool) -> tuple[dns.message.Message, bytes]:
    query = dns.message.make_query(name, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    return query, query.to_wire()


def query(name: str, rdtype: str, *, recursion: bool = True) -> tuple[dns.message.Message, bytes]:
    """A query for ``name`` ``rdtype`` with a fresh random ID, and its wire form.

    dnspython builds and renders each question once (making and rendering a query costs ~50 us,
    most of a probe's own work); a probe's query shares that question and differs only in its ID,
    which heads the wire form: the cached bytes get the new ID in front, nothing else is touched.
    """
    template, wire = _template(name, rdtype, recursion)
    fresh = dns.message.QueryMessage(id=dns.entropy.random_16())
    fresh.flags, fresh.question = template.flags, template.question  # the question's rrsets are only read
    return fresh, _U16.pack(fresh.id) + wire[_U16.size :]


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


async def ask(
    question: tuple[dns.message.Message, bytes], server: str, port: int, deadline: float, *, tcp: bool
) -> dns.message.Message:
    """The server's answer to ``question`` (a query and its wire form, from ``query``) by
    ``deadline`` (TimeoutError past it); UDP first unless ``tcp``, then TCP if the UDP answer
    came truncated."""
    where = f"{server}:{port}"
    if not tcp:
        answer = await _udp(question, server, port, deadline, where)
        if answer is not None:
            return answer
    return await _tcp(question, server, port, deadline, where)


async def _udp(
    question: tuple[dns.message.Message, bytes], server: str, port: int, deadline: float, where: str
) -> dns.message.Message | None:
    query, wire = question
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(deadline):
        sock = _connected(server, port)
        try:
            transport, proto = await loop.create_datagram_endpoint(lambda: _Datagram(query, where), sock=sock)
        except BaseException:
            sock.close()  # the loop took no transport over it
            raise
        try:
            transport.sendto(wire)
            return await proto.done
        finally:
            proto.done.cancel()  # nothing left to hear once the socket goes (no unheard exception)
            transport.abort()


def _connected(server: str, port: int) -> socket.socket:
    """A UDP socket connected to the server: the kernel picks a random source port and drops
    datagrams from anyone else. Made here rather than by the loop from ``remote_addr``, which
    costs a third more CPU for the same socket."""
    sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((server, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _tcp(
    question: tuple[dns.message.Message, bytes], server: str, port: int, deadline: float, where: str
) -> dns.message.Message:
    query, wire = question
    stream = await connect(server, port, deadline)
    try:
        async with asyncio.timeout_at(deadline):
            stream.writer.write(_U16.pack(len(wire)) + wire)
            (size,) = _U16.unpack(await stream.reader.readexactly(_U16.size))
            return answer_to(query, await stream.reader.readexactly(size), where)
    except asyncio.IncompleteReadError:
        raise ProbeFailure(r.PROTOCOL, f"{where}: the connection closed inside an answer") from None
    finally:
        stream.close()
