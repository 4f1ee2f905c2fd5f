"""Zones: inventory, composite state, checks, hours, SLA target."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from domain.zone_state import ZoneState, ZoneStatus
from domain.zones import Zone
from monitor.web.collectors.base import PREFIX, Concern


class ZoneCollector(Concern):
    def families(self) -> Iterator[Metric]:
        yield from self._zones(self.view.current_zones(), self.view.current_zone_states())

    def describe(self) -> Iterator[Metric]:
        yield from self._zones((), {})

    def _zones(self, zones: tuple[Zone, ...], states: dict[str, ZoneState]) -> Iterator[Metric]:
        info = InfoMetricFamily(PREFIX + "zone", "Inventory of each Wi-Fi zone (for maps and joins on zone).")
        up = GaugeMetricFamily(
            PREFIX + "zone_up",
            "1 if citizens can get online in the zone (up or degraded), "
            "0 if down; absent while unknown, in maintenance or without data.",
            labels=["zone"],
        )
        state = GaugeMetricFamily(
            PREFIX + "zone_state", "Current state of the zone (1 for the current one).", labels=["zone", "state"]
        )
        since = GaugeMetricFamily(
            PREFIX + "zone_state_since_timestamp_seconds",
            "Unix time the zone entered its current state.",
            labels=["zone"],
        )
        check = GaugeMetricFamily(
            PREFIX + "zone_check_success", "1 if the zone's check passed in the last cycle.", labels=["zone", "check"]
        )
        hours = GaugeMetricFamily(
            PREFIX + "zone_open",
            "1 while the zone is open by its operating schedule (0: closed hours, a holiday, a closed day).",
            labels=["zone"],
        )
        sla = GaugeMetricFamily(
            PREFIX + "zone_sla_target_ratio", "Availability target of the zone (0-1).", labels=["zone"]
        )
        bandwidth = GaugeMetricFamily(
            PREFIX + "zone_contracted_bandwidth_bytes_per_second",
            "Contracted bandwidth of the zone's uplink.",
            labels=["zone"],
        )
        trans = CounterMetricFamily(PREFIX + "zone_transitions", "State changes of the zone.", labels=["zone"])
        for z in zones:
            info.add_metric([], _inventory(z))
            if z.sla_target is not None:
                sla.add_metric([z.id], z.sla_target)
            if z.bandwidth_bps is not None:
                bandwidth.add_metric([z.id], z.bandwidth_bps / 8)
            st = states.get(z.id)
            if st is None:
                continue
            if st.status in (ZoneStatus.UP, ZoneStatus.DEGRADED, ZoneStatus.DOWN):
                up.add_metric([z.id], 0.0 if st.status == ZoneStatus.DOWN else 1.0)
            for s in ZoneStatus:
                state.add_metric([z.id, s.value], 1.0 if st.status == s else 0.0)
            if st.since is not None:
                since.add_metric([z.id], st.since.timestamp())
            trans.add_metric([z.id], st.transitions)
            if st.last is not None:
                hours.add_metric([z.id], 1.0 if st.in_hours else 0.0)
                for name, ok in sorted(st.last.checks.items()):
                    check.add_metric([z.id, name], 1.0 if ok else 0.0)
        yield from (info, up, state, since, check, hours, sla, bandwidth, trans)


def _inventory(z: Zone) -> dict[str, str]:
    """A zone's inventory as vigia_zone_info's labels."""
    return {
        "zone": z.id,
        "name": z.name,
        "barrio": z.barrio,
        "ucg": "" if z.ucg is None else str(z.ucg),
        "localidad": z.localidad,
        "area": z.area,
        "lat": f"{z.lat:.5f}",
        "lon": f"{z.lon:.5f}",
        "hours": z.hours_text,
        "uplink": z.uplink,  # the alert rules' joins: zone alerts behind a down uplink are inhibited
    }
