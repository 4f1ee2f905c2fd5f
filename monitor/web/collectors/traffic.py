"""Zone traffic from SNMP counters: bytes, clients, wraps and resets."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from domain.traffic import ZoneTraffic
from monitor.web.collectors.base import PREFIX, Concern


class TrafficCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._traffic(self.view.current_traffic())

    def describe(self) -> Iterator[Metric]:
        yield from self._traffic({})

    def _traffic(self, traffic: dict[str, ZoneTraffic]) -> Iterator[Metric]:
        rx = CounterMetricFamily(
            PREFIX + "zone_receive_bytes",
            "Bytes into the zone's device interface (SNMP ifHCInOctets), wraps and reboots accounted for.",
            labels=["zone"],
        )
        tx = CounterMetricFamily(
            PREFIX + "zone_transmit_bytes",
            "Bytes out of the zone's device interface (SNMP ifHCOutOctets), wraps and reboots accounted for.",
            labels=["zone"],
        )
        clients = GaugeMetricFamily(
            PREFIX + "zone_clients", "Clients associated now (SNMP, vendor OID).", labels=["zone"]
        )
        resets = CounterMetricFamily(
            PREFIX + "zone_counter_resets", "Device reboots or counter resets seen.", labels=["zone"]
        )
        wraps = CounterMetricFamily(PREFIX + "zone_counter_wraps", "32-bit counter wraps seen.", labels=["zone"])
        for zone, t in sorted(traffic.items()):
            if t.last is None:
                continue
            rx.add_metric([zone], t.rx_total)
            tx.add_metric([zone], t.tx_total)
            resets.add_metric([zone], t.resets)
            wraps.add_metric([zone], t.wraps)
            if t.clients is not None:
                clients.add_metric([zone], t.clients)
        yield from (rx, tx, clients, resets, wraps)
