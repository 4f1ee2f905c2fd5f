"""Zones: inventory, composite state, checks, hours, SLA target."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from domain.zone_state import ZoneState, ZoneStatus
from domain.zones import Zone
from monitor.web.collectors.base import PREFIX, Concern, Kept, View
from monitor.web.textformat import Series


class ZoneCollector(Concern):
    def __init__(self, view: View) -> None:
        super().__init__(view)
        self._kept = Kept()

    def families(self) -> Iterator[Metric]:
        zones, states = self.view.current_zones(), self.view.current_zone_states()
        # Everything _zones prints of a zone's state: most cycles change none of it.
        now = [None if (st := states.get(z.id)) is None else _printed(st) for z in zones]
        yield from self._kept.get((zones, now), lambda: self._zones(zones, states))

    def describe(self) -> Iterator[Metric]:
        yield from self._zones((), {})

    def _zones(self, zones: tuple[Zone, ...], states: dict[str, ZoneState]) -> Iterator[Metric]:
        info = Series(PREFIX + "zone", "Inventory of each Wi-Fi zone (for maps and joins on zone).", "info", INVENTORY)
        up = Series(
            PREFIX + "zone_up",
            "1 if citizens can get online in the zone (up or degraded), "
            "0 if down; absent while unknown, in maintenance or without data.",
            "gauge", ["zone"],
        )  # fmt: skip
        state = Series(
            PREFIX + "zone_state", "Current state of the zone (1 for the current one).", "gauge", ["zone", "state"]
        )
        since = Series(
            PREFIX + "zone_state_since_timestamp_seconds", "Unix time the zone entered its current state.",
            "gauge", ["zone"],
        )  # fmt: skip
        check = Series(
            PREFIX + "zone_check_success", "1 if the zone's check passed in the last cycle.", "gauge", ["zone", "check"]
        )
        hours = Series(
            PREFIX + "zone_open",
            "1 while the zone is open by its operating schedule (0: closed hours, a holiday, a closed day).",
            "gauge", ["zone"],
        )  # fmt: skip
        sla = Series(PREFIX + "zone_sla_target_ratio", "Availability target of the zone (0-1).", "gauge", ["zone"])
        bandwidth = Series(
            PREFIX + "zone_contracted_bandwidth_bytes_per_second", "Contracted bandwidth of the zone's uplink.",
            "gauge", ["zone"],
        )  # fmt: skip
        trans = Series(PREFIX + "zone_transitions", "State changes of the zone.", "counter", ["zone"])
        statuses = [(s, s.value) for s in ZoneStatus]
        for z in zones:
            info.add(_inventory(z), 1.0)
            zid = z.id
            if z.sla_target is not None:
                sla.add((zid,), z.sla_target)
            if z.bandwidth_bps is not None:
                bandwidth.add((zid,), z.bandwidth_bps / 8)
            st = states.get(zid)
            if st is None:
                continue
            if st.status in (ZoneStatus.UP, ZoneStatus.DEGRADED, ZoneStatus.DOWN):
                up.add((zid,), 0.0 if st.status == ZoneStatus.DOWN else 1.0)
            for s, name in statuses:
                state.add((zid, name), 1.0 if st.status == s else 0.0)
            if st.since is not None:
                since.add((zid,), st.since.timestamp())
            trans.add((zid,), st.transitions)
            if st.last is not None:
                hours.add((zid,), 1.0 if st.in_hours else 0.0)
                for name, ok in sorted(st.last.checks.items()):
                    check.add((zid, name), 1.0 if ok else 0.0)
        yield from (info, up, state, since, check, hours, sla, bandwidth, trans)


# vigia_zone_info's labels; "uplink" is for the alert rules' joins: zone alerts behind a down
# uplink are inhibited.
INVENTORY = ("zone", "name", "barrio", "ucg", "localidad", "area", "lat", "lon", "hours", "uplink")


def _printed(st: ZoneState) -> tuple[object, ...]:
    last = st.last
    checks = () if last is None else tuple(sorted(last.checks.items()))
    return (st.status, st.since, st.transitions, last is not None and st.in_hours, checks)


def _inventory(z: Zone) -> tuple[str, ...]:
    """A zone's inventory as vigia_zone_info's label values (INVENTORY's order)."""
    ucg = "" if z.ucg is None else str(z.ucg)
    return (z.id, z.name, z.barrio, ucg, z.localidad, z.area, f"{z.lat:.5f}", f"{z.lon:.5f}", z.hours_text, z.uplink)
