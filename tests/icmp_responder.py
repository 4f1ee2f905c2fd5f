"""A user-space ICMP echo responder for the lab: a slow or lossy host without tc netem.

Runs inside a namespace whose kernel does not answer pings
(net.ipv4.icmp_echo_ignore_all=1) and answers echo requests itself, dropping
every Nth and delaying the rest. Bounded: it exits after --seconds.

    python tests/icmp_responder.py --drop-every 2 --delay 0.05 --seconds 30
"""

from __future__ import annotations

import argparse
import select
import socket
import struct
import time

import ping3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--drop-every", type=int, default=0, help="drop request number N, 2N, ... (0: none)")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each reply")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    end = time.monotonic() + args.seconds
    seen = 0
    print("ready", flush=True)
    while time.monotonic() < end:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if not ready:
            continue
        data, (src, _) = sock.recvfrom(2048)
        ihl = (data[0] & 0x0F) * 4
        icmp = data[ihl:]
        if len(icmp) < 8 or icmp[0] != 8:
            continue
        seen += 1
        if args.drop_every and seen % args.drop_every == 0:
            continue
        if args.delay:
            time.sleep(args.delay)
        _, _, _, ident, seq = struct.unpack("!BBHHH", icmp[:8])
        payload = icmp[8:]
        csum = ping3.checksum(struct.pack("!BBHHH", 0, 0, 0, ident, seq) + payload)
        sock.sendto(struct.pack("!BBHHH", 0, 0, socket.htons(csum), ident, seq) + payload, (src, 0))


if __name__ == "__main__":
    main()
