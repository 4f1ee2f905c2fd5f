"""The zone-agent lab: Wi-Fi zones as a citizen meets them, in network namespaces of their own.

    this host (the centre, 10.214.0.1)
        │ veth
      core (a router: the operator's network and the internet)
        ├── inet   10.214.1.2   an internet anchor (answers ICMP)
        └── zone i's gateway  10.214.(10+i).2  (the backhaul: cut it with ``cut``)
               ├ NAT to the backhaul, dnsmasq (the hotspot's resolver), the captive portal on :80
               └── zone i's box  192.168.(50+i).10 on the zone's LAN: the agent runs here

Only the centre's end is in this host's namespace, with one route to the lab's 10.214.0.0/16; every
other address exists inside the lab's namespaces, so nothing sent can leave the machine. Forwarding
is switched on inside the lab's routers only. Everything is torn down on exit.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.lab import sh, stop

HERE = Path(__file__).parent
CENTRE, CORE = "10.214.0.1", "10.214.0.2"
ANCHOR = "10.214.1.2"
_ids = itertools.count(1)


@dataclass
class Zone:
    index: int
    gw_ns: str
    box_ns: str
    backhaul_if: str  # the gateway's end of its backhaul
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def wan(self) -> str:
        """The gateway's backhaul address: what the centre probes."""
        return f"10.214.{10 + self.index}.2"

    @property
    def lan(self) -> str:
        """The gateway's address on the zone's LAN: what the agent probes."""
        return f"192.168.{50 + self.index}.1"

    def gw(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.gw_ns, *argv, check=check)

    def cut(self) -> None:
        """The backhaul is cut: the zone's gateway loses its link to the world."""
        self.gw("ip", "link", "set", self.backhaul_if, "down")

    def mend(self) -> None:
        self.gw("ip", "link", "set", self.backhaul_if, "up")
        self.gw("ip", "route", "replace", "default", "via", f"10.214.{10 + self.index}.1")

    def spawn(self, name: str, ns: str, *argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)  # type: ignore[call-overload]
        self.processes[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.processes.pop(name, None)
        if proc is not None:
            stop(proc)

    def portal(self) -> None:
        """The captive portal, on every address of the gateway (the LAN's and the backhaul's)."""
        proc = self.spawn("portal", self.gw_ns, sys.executable, str(HERE / "portal_server.py"), "--bind", "0.0.0.0",
                          "--port", "80", "--seconds", "900", stdout=subprocess.PIPE)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"


class ZoneLab:
    def __init__(self, zones: int) -> None:
        self.tag = f"{os.getpid() % 10000}{next(_ids)}"
        self.namespaces: list[str] = []
        self.links: list[str] = []  # this host's ends
        self.zones: list[Zone] = []
        self.routed = False
        try:
            self._build(zones)
        except BaseException:
            self.close()
            raise

    def _ns(self, name: str) -> str:
        ns = f"vza-{self.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        return ns

    def _pair(self, a_ns: str | None, a_if: str, a_addr: str, b_ns: str, b_if: str, b_addr: str) -> None:
        """A veth pair from ``a_ns`` (None: this host) to ``b_ns``, each end with its address."""
        # Made inside the namespaces, so that their names never meet this host's interfaces.
        sh("ip", *(["-n", a_ns] if a_ns else []), "link", "add", a_if, "type", "veth", "peer", "name", b_if,
           "netns", b_ns)  # fmt: skip
        if a_ns is None:
            self.links.append(a_if)
        for ns, name, addr in ((a_ns, a_if, a_addr), (b_ns, b_if, b_addr)):
            pre = [] if ns is None else ["ip", "netns", "exec", ns]
            sh(*pre, "ip", "addr", "add", addr, "dev", name)
            sh(*pre, "ip", "link", "set", name, "up")

    def _build(self, zones: int) -> None:
        t = self.tag
        core, inet = self._ns("core"), self._ns("inet")
        sh("ip", "netns", "exec", core, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        self._pair(None, f"vzc{t}"[:15], f"{CENTRE}/30", core, "up0", f"{CORE}/30")
        sh("ip", "route", "add", "10.214.0.0/16", "via", CORE)
        self.routed = True
        self._pair(core, "inet0", "10.214.1.1/30", inet, "eth0", f"{ANCHOR}/30")
        sh("ip", "netns", "exec", inet, "ip", "route", "add", "default", "via", "10.214.1.1")
        for i in range(1, zones + 1):
            gw, box = self._ns(f"gw{i}"), self._ns(f"box{i}")
            self._pair(core, f"bh{i}", f"10.214.{10 + i}.1/30", gw, "wan0", f"10.214.{10 + i}.2/30")
            self._pair(gw, "lan0", f"192.168.{50 + i}.1/24", box, "eth0", f"192.168.{50 + i}.10/24")
            run = ["ip", "netns", "exec", gw]
            sh(*run, "ip", "route", "add", "default", "via", f"10.214.{10 + i}.1")
            sh(*run, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            # A hotspot hides its LAN behind its backhaul address.
            sh(*run, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan0", "-j", "MASQUERADE")
            sh("ip", "netns", "exec", box, "ip", "route", "add", "default", "via", f"192.168.{50 + i}.1")
            zone = Zone(i, gw, box, "wan0")
            self.zones.append(zone)
            zone.portal()
            zone.spawn("dns", gw, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                       "--bind-interfaces", f"--listen-address={zone.lan}", "--user=root",
                       f"--address=/portal.zona.test/{zone.lan}", stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip

    def close(self) -> None:
        for zone in self.zones:
            for name in list(zone.processes):
                zone.stop(name)
        if self.routed:
            sh("ip", "route", "del", "10.214.0.0/16", "via", CORE, check=False)
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        for link in self.links:
            sh("ip", "link", "del", link, check=False)

    def __enter__(self) -> ZoneLab:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
