"""The observer: folds one cycle's results into target, zone and traffic state.

Pure: no thread, no socket, no store. It gets results and the time, and returns what changed
(state changes, zone samples, SNMP usage rows) for the daemon to write; the daemon calls it under
its lock. Tested without a scheduler (tests/test_observer.py).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import config as cfg
from config import Maintenance
from domain.state import State, TargetState, Transition
from domain.traffic import Reading, ZoneTraffic
from domain.usage import UsageRow
from domain.vantage import INSIDE, fresh_window, inside_view, judge, reason_of
from domain.windows import active_window
from domain.zone_state import Observation, ZoneState, ZoneStatus, ZoneTransition, observe
from domain.zones import Zone
from probes.result import ProbeResult
from probes.usage.radius import Usage
from store.db import StateChange, StoredState, ZoneSample

log = logging.getLogger("vigia")


@dataclass
class Folded:
    """What one cycle changed: rows for the store."""

    changes: list[StateChange] = field(default_factory=list)
    samples: list[ZoneSample] = field(default_factory=list)
    usage: list[UsageRow] = field(default_factory=list)


def _zone_change(tr: ZoneTransition) -> StateChange:
    at = tr.at.timestamp()
    return StateChange(tr.zone, tr.old.value, tr.new.value, at, at, tr.reason, tr.message)


@functools.lru_cache(maxsize=4096)
def _checks_text(checks: tuple[tuple[str, bool], ...]) -> str:
    """A sample's checks as stored (sorted JSON): the same few texts every cycle, each written once
    (a json.dumps call builds its encoder anew: thousands of zones a cycle)."""
    return json.dumps(dict(checks), sort_keys=True)


class Observer:
    def __init__(self, config: cfg.Config) -> None:
        self.config = config
        # Windows added from the command line (`vigia maintenance`), read from the store each cycle.
        self.stored_windows: tuple[Maintenance, ...] = ()
        self.states: dict[str, TargetState] = {}
        self.zone_states: dict[str, ZoneState] = {}
        self.traffic: dict[str, ZoneTraffic] = {}
        # Each zone agent's latest result per check (domain.vantage): the inside view of the zone.
        self.inside: dict[str, dict[str, ProbeResult]] = {}

    def windows(self) -> tuple[Maintenance, ...]:
        """Every maintenance window: configured, then added from the command line."""
        return (*self.config.maintenance, *self.stored_windows)

    # -- state across restarts and reloads -----------------------------------

    def restore(self, stored: Mapping[str, StoredState], snmp_today: Iterable[Any], today: str) -> None:
        """Start from what the store remembers: states and since, and today's SNMP totals."""
        self.states = {t.id: new_state(t) for t in self.config.targets}
        for tid, st in self.states.items():
            saved = stored.get(tid)
            if saved is not None and saved.state in (State.UP, State.DOWN, State.MAINTENANCE):
                st.state = State(saved.state)
                st.since = datetime.fromtimestamp(saved.since, UTC) if saved.since else None
        self.zone_states = {z.id: new_zone_state(z) for z in self.config.zones}
        seeded = {row.zone: row for row in snmp_today}
        for z in self.config.zones:
            if "snmp" in z.usage:
                tr = self.traffic[z.id] = new_traffic(z)
                row = seeded.get(z.id)
                if row is not None:  # carry today's totals over a restart
                    tr.day, tr.day_rx, tr.day_tx = today, row.input_octets or 0.0, row.output_octets or 0.0
                    tr.day_peak_clients = row.peak_clients or 0
        for zid, zs in self.zone_states.items():
            saved = stored.get(zid)
            if saved is not None and saved.state in {s.value for s in ZoneStatus}:
                zs.status = ZoneStatus(saved.state)
                zs.since = datetime.fromtimestamp(saved.since, UTC) if saved.since else None

    def reconfigure(self, new: cfg.Config) -> None:
        """A reload: keep the state of what is still configured, start the new, drop the removed."""
        old_states = self.states
        self.states = {t.id: old_states.get(t.id) or new_state(t) for t in new.targets}
        for t in new.targets:
            st = self.states[t.id]
            st.failures_before_down = t.failures_before_down
            st.successes_before_up = t.successes_before_up
        old_zones = self.zone_states
        self.zone_states = {z.id: old_zones.get(z.id) or new_zone_state(z) for z in new.zones}
        self.config = new

    # -- one cycle -----------------------------------------------------------

    def inside_results(self, zone: str, results: Iterable[ProbeResult]) -> None:
        """An agent's results, as they arrive (late ones too): the newest per check is kept."""
        mine = self.inside.setdefault(zone, {})
        for r in results:
            held = mine.get(r.target)
            if held is None or held.started_at <= r.started_at:
                mine[r.target] = r

    def _with_inside(self, zone: Zone, obs: Observation, now: datetime) -> Observation:
        """The central observation, decided by the zone's agent when it reports (domain.vantage):
        its results of the last two agent intervals (and half a minute for the push)."""
        if zone.agent is None:
            return obs
        horizon = now.timestamp() - fresh_window(zone.agent.interval)
        fresh = {c: r for c, r in self.inside.get(zone.id, {}).items() if r.started_at.timestamp() >= horizon}
        j = judge(obs.verdict, inside_view(fresh, zone.thresholds) if fresh else None)
        if j.view != INSIDE:
            return obs
        return replace(obs, verdict=j.verdict, reason=reason_of(j), message=j.why)

    def fold(self, interval: float, results: list[ProbeResult], now: datetime) -> Folded:
        folded = Folded(changes=[StateChange.of(t) for t in self._targets(results, now)])
        by_target = {r.target: r for r in results}
        self._zones(interval, by_target, now, folded)
        self._traffic(interval, by_target, now, folded)
        return folded

    def _targets(self, results: list[ProbeResult], now: datetime) -> list[Transition]:
        transitions: list[Transition] = []
        windows = self.windows()  # once a cycle, not once a result
        for res in results:
            st = self.states.get(res.target)
            if st is None:  # removed by a reload during the cycle
                continue
            window = active_window(windows, res.target, now)
            if window is not None:
                tr = st.enter_maintenance(now, window.id, window.reason)
            else:
                tr = st.leave_maintenance(now)
            if tr is not None:
                transitions.append(tr)
            tr = st.observe(res)
            if tr is not None:
                transitions.append(tr)
        for tr in transitions:
            why = f" ({tr.reason}: {tr.message})" if tr.reason else ""
            log.info("target %s: %s -> %s%s", tr.target, tr.old.value, tr.new.value, why)
        return transitions

    def _zones(self, interval: float, by_target: dict[str, ProbeResult], now: datetime, folded: Folded) -> None:
        """Fold the zones' check results of this cycle into zone states."""
        tz = self.config.timezone
        watchdog = self.config.watchdog
        last = [self.states[w].last for w in watchdog if w in self.states]
        watchdog_ok = all(r is None or r.success for r in last)
        windows = self.windows()
        for zone in self.config.zones:
            if zone.interval != interval or not (zone.checks or zone.agent):
                continue
            zs = self.zone_states.setdefault(zone.id, new_zone_state(zone))
            central = observe(zone, by_target, watchdog_ok)
            obs = self._with_inside(zone, central, now)
            in_hours = zone.in_hours(now, tz)
            maintenance = active_window(windows, zone.id, now) is not None
            tr = zs.update(now, obs, maintenance=maintenance, in_hours=in_hours)
            folded.samples.append(
                ZoneSample(
                    zone.id, now.timestamp(), interval, zs.status.value, obs.verdict, in_hours, obs.loss, obs.rtt,
                    _checks_text(tuple(obs.checks.items())), central.verdict if obs is not central else "",
                )
            )  # fmt: skip
            if tr is not None:
                folded.changes.append(_zone_change(tr))
                why = f" ({tr.reason}: {tr.message})" if tr.reason else ""
                log.info("zone %s: %s -> %s%s", tr.zone, tr.old.value, tr.new.value, why)

    def _traffic(self, interval: float, by_target: dict[str, ProbeResult], now: datetime, folded: Folded) -> None:
        """Turn the zones' raw SNMP counters into traffic, and today's totals into usage rows."""
        day = now.astimezone(self.config.timezone).strftime("%Y-%m-%d")
        for zone in self.config.zones:
            res = by_target.get(zone.usage.get("snmp", ""))
            if zone.interval != interval or res is None or not res.success:
                continue
            v = res.values
            tr = self.traffic.setdefault(zone.id, new_traffic(zone))
            reading = Reading(
                res.started_at.timestamp(),
                v["if_in_octets"],
                v["if_out_octets"],
                v["sys_uptime_seconds"],
                int(v.get("counter_bits", 64)),
            )
            tr.update(reading, day, v.get("clients"))
            usage = Usage(0, 0, 0.0, tr.day_rx, tr.day_tx)
            folded.usage.append(UsageRow(zone.id, day, usage, None, tr.day_peak_clients))


def new_state(t: cfg.Target) -> TargetState:
    return TargetState(t.id, t.failures_before_down, t.successes_before_up)


def new_traffic(z: Zone) -> ZoneTraffic:
    return ZoneTraffic(z.id, z.bandwidth_bps / 8 if z.bandwidth_bps else None)


def new_zone_state(z: Zone) -> ZoneState:
    return ZoneState(z.id, z.failures_before_down, z.successes_before_up)
