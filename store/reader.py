"""What the reports read from the store, as domain values: state periods, measured time, usage,
host and service results, findings, and the months' frozen figures. Reports take a Reader and
never see a table or write SQL; the one thing they write through it is a month's snapshot."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.agents import holds_data
from domain.availability import Period
from domain.corrections import Correction
from domain.findings import Finding
from domain.ha_view import MemberView, combine
from domain.incidents import Incident
from domain.usage import ZoneUsage
from domain.windows import StoredWindow
from domain.zone_state import DEGRADED, FAILED, OK
from kernel.month import Month
from store import chunks, spans
from store.agents import Agents
from store.backends import insert_for, reading, writing
from store.corrections import Corrections
from store.incidents import Incidents
from store.maintenance import Windows
from store.records import finding_of
from store.schema import (
    daemon_runs,
    findings_t,
    members,
    month_snapshots,
    operator_usage,
    outages,
    overlapping,
    usage_daily,
    usage_monthly,
    zone_samples_t,
    zone_spans,
)

Compute = Callable[[], dict[str, Any]]
Success = tuple[str, float, dict[str, Any]]  # target, time, decoded data


class Reader:
    """One instance's history, read only (but for the month snapshots it freezes)."""

    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine = engine
        self.instance = instance

    def periods(self, targets: Iterable[str], start: float, end: float) -> dict[str, list[Period]]:
        """State periods of each target or zone overlapping [start, end), oldest first."""
        ids = list(targets)
        out: dict[str, list[Period]] = {t: [] for t in ids}
        o = outages
        q = (
            sa.select(o.c.target, o.c.kind, o.c.started_at, o.c.ended_at, o.c.reason)
            .where(overlapping(self.instance, start, end), o.c.target.in_(ids))
            .order_by(o.c.started_at)
        )
        with reading(self.engine) as conn:
            for row in conn.execute(q):
                out[row.target].append(Period(row.kind, row.started_at, row.ended_at, row.reason))
        return out

    def incidents_between(self, start: float, end: float) -> list[Incident]:
        """The operators' incidents whose span overlaps [start, end), without their updates (a report
        names an incident and its cause; the updates are the status page's)."""
        return Incidents(self.engine, self.instance).listed(since=start, until=end, with_events=False)

    def corrections_between(self, start: float, end: float) -> list[Correction]:
        """Corrections after the fact of spans overlapping [start, end) (store.corrections)."""
        return Corrections(self.engine, self.instance).between(start, end)

    def windows_between(self, start: float, end: float) -> list[StoredWindow]:
        """Maintenance windows added from the command line overlapping [start, end), not cancelled:
        one added after its time is a correction, and the figures lay it over what was measured."""
        return [w for w in Windows(self.engine, self.instance).listed(ending_after=start) if w.start < end]

    def coverage(self, zones: Iterable[str], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        """When each zone was measured: the spans its cycles' samples made (store.spans)."""
        with reading(self.engine) as conn:
            return spans.read(conn, self.instance, zones, start, end)

    def marks(self, zones: Iterable[str], start: float, end: float) -> dict[str, tuple[Any, ...]]:
        """What changes when a zone's rows within [start, end) change (late data: an agent's spooled
        batch, a period closed, a span filled in): a few aggregates of its periods and of its
        measured spans, each clipped at ``end``, so that what goes on after it (the current span
        growing, a period still open) changes nothing. A cache of past days' figures (the status
        page's bars) keeps a zone's days while its marks stay."""
        ids = list(zones)
        o, sp = outages.c, zone_spans.c
        clipped_end = sa.case((sa.or_(o.ended_at.is_(None), o.ended_at > end), end), else_=o.ended_at)
        q_periods = (
            sa.select(o.target, sa.func.count(), sa.func.max(o.id), sa.func.sum(clipped_end))
            .where(overlapping(self.instance, start, end), o.target.in_(ids))
            .group_by(o.target)
        )
        span_end = sa.case((sp.end > end, end), else_=sp.end)
        q_spans = (
            sa.select(sp.zone, sa.func.count(), sa.func.sum(sp.start), sa.func.sum(span_end))
            .where(sp.instance == self.instance, sp.zone.in_(ids), sp.start < end, sp.end > start)
            .group_by(sp.zone)
        )  # fmt: skip
        out: dict[str, tuple[Any, ...]] = {z: ((), ()) for z in ids}
        with reading(self.engine) as conn:
            for target, *agg in conn.execute(q_periods):
                out[target] = (tuple(agg), ())
            for zone, *agg in conn.execute(q_spans):
                out[zone] = (out[zone][0], tuple(agg))
        return out

    def path_seconds(self, zones: Iterable[str], start: float, end: float) -> dict[str, float]:
        """Each zone's time within its hours when the centre found it dark and its agent found it
        working (domain.vantage: a monitoring-path event, never downtime), from the cycles' samples."""
        z = zone_samples_t.c
        ids = list(zones)
        q = (
            sa.select(z.zone, sa.func.sum(z.interval))
            .where(z.instance == self.instance, z.zone.in_(ids), z.ts >= start, z.ts < end, z.in_hours.is_(True),
                   # A literal, not a parameter: what lets the planners use the partial PATH_INDEX.
                   z.central == sa.literal(FAILED, literal_execute=True), z.verdict.in_((OK, DEGRADED)))
            .group_by(z.zone)
        )  # fmt: skip
        with reading(self.engine) as conn:
            found = {zone: float(seconds) for zone, seconds in conn.execute(q)}
        return {zone: found.get(zone, 0.0) for zone in ids}

    def run_coverage(self, start: float, end: float) -> list[tuple[float, float]]:
        """When some vigia run of this instance was up (its heartbeat), for targets without zone samples."""
        d = daemon_runs
        q = sa.select(d.c.started_at, d.c.last_seen).where(
            d.c.instance == self.instance, d.c.started_at < end, d.c.last_seen > start
        )
        with reading(self.engine) as conn:
            return [(a, b) for a, b in conn.execute(q)]

    def usage(self, year: int, month: int) -> dict[str, ZoneUsage]:
        """Each zone's month of use: RADIUS figures first, SNMP traffic and clients, operator devices."""
        key = str(Month(year, month))
        out: dict[str, ZoneUsage] = defaultdict(ZoneUsage)
        m, d, op = usage_monthly, usage_daily, operator_usage
        with reading(self.engine) as conn:
            q = sa.select(m).where(m.c.instance == self.instance, m.c.month == key, m.c.source == "radius")
            for row in conn.execute(q):
                u = out[row.zone]
                u.unique_users, u.sessions, u.session_seconds = row.unique_users, row.sessions, row.session_seconds
                u.input_octets, u.output_octets = row.input_octets, row.output_octets
                u.peak_concurrent = row.peak_concurrent
                u.sources.append("radius")
            q = (
                sa.select(
                    d.c.zone,
                    sa.func.sum(d.c.input_octets),
                    sa.func.sum(d.c.output_octets),
                    sa.func.max(d.c.peak_clients),
                )
                .where(d.c.instance == self.instance, d.c.source == "snmp", d.c.day.like(f"{key}-%"))
                .group_by(d.c.zone)
            )
            for zone, rx, tx, peak in conn.execute(q):
                u = out[zone]
                if u.input_octets is None:  # RADIUS octets are per user; SNMP's are the device's: prefer RADIUS
                    u.input_octets, u.output_octets = rx, tx
                u.peak_clients = peak
                u.sources.append("snmp")
            q = sa.select(op).where(op.c.instance == self.instance, op.c.year == year, op.c.month == month)
            for row in conn.execute(q):
                u = out[row.zone]
                u.devices = {"smartphone": row.smartphone, "tablet": row.tablet, "pc": row.pc, "other": row.other}
                u.sources.append("operador")
        return dict(out)

    def successes(self, targets: Sequence[str], start: float, end: float) -> Iterator[Success]:
        """(target, time, decoded data) of each successful result in [start, end), oldest first."""
        with reading(self.engine) as conn:
            rows = chunks.read(conn, self.instance, start, end, targets, successes_only=True)
        for row in rows:
            yield row.target, row.ts, row.data

    def durations(self, targets: Sequence[str], start: float, end: float) -> Iterator[tuple[str, str, float]]:
        """(target, probe, seconds) of each successful result in [start, end)."""
        with reading(self.engine) as conn:
            yield from chunks.durations(conn, self.instance, start, end, targets)

    def findings_before(self, end: float) -> list[Finding]:
        """Every finding first seen before ``end``, open or resolved."""
        t = findings_t
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(t).where(t.c.instance == self.instance, t.c.first_seen < end)).all()
        return [finding_of(r) for r in rows]

    def agents_holding(self, until: float) -> tuple[str, ...]:
        """The zones whose live agent may still hold results measured before ``until``
        (domain.agents.holds_data), as their last push said."""
        listed = Agents(self.engine, self.instance).listed()
        return tuple(a.zone for a in listed if a.revoked_at is None and holds_data(a.last_push_at, a.backlog, until))

    def frozen_everywhere(self, key: str, kind: str) -> dict[str, dict[str, Any]]:
        """The month's frozen figures of ``kind`` of every owner (instance or HA group) in the database."""
        t = month_snapshots
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(t.c.instance, t.c.data).where(t.c.month == key, t.c.kind == kind)).all()
        return {owner: dict(json.loads(data)) for owner, data in rows}

    def owners(self) -> list[str]:
        """Every instance that ever ran on this database, and every HA group."""
        with reading(self.engine) as conn:
            runs = conn.execute(sa.select(daemon_runs.c.instance).distinct()).scalars().all()
            groups = conn.execute(sa.select(members.c.ha_group).where(members.c.ha_group.is_not(None)).distinct())
            grouped = conn.execute(sa.select(members.c.instance).where(members.c.ha_group.is_not(None)).distinct())
            return sorted((set(runs) - set(grouped.scalars().all())) | set(groups.scalars().all()))

    def frozen(self, key: str, kind: str, compute: Compute | None, *, refreeze: bool = False) -> dict[str, Any] | None:
        """The month's figures of ``kind``: computed and stored once, read back ever after.
        ``compute`` None: only what was frozen (None if nothing was).

        Two closes of one month at once (a timer and a person, two instances on one PostgreSQL)
        freeze it once: each computes outside any transaction (a close takes seconds, and on SQLite
        a read transaction held across it could not turn into a write once the other committed),
        then stores its figures only if none are there, and both return the figures stored first.
        ``refreeze`` replaces them: an operator's deliberate act."""
        t = month_snapshots
        where = (t.c.instance == self.instance, t.c.month == key, t.c.kind == kind)
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(t.c.data).where(*where)).scalar_one_or_none()
        if row is not None and not (refreeze and compute is not None):
            return dict(json.loads(row))
        if compute is None:
            return None
        text = json.dumps(compute(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        values = {"instance": self.instance, "month": key, "kind": kind, "data": text, "created_at": time.time()}
        with writing(self.engine) as conn:
            if refreeze:
                conn.execute(t.delete().where(*where))
            conn.execute(insert_for(self.engine.dialect.name, t).values(**values).on_conflict_do_nothing())
            stored = conn.execute(sa.select(t.c.data).where(*where)).scalar_one()
        return dict(json.loads(stored))


class GroupReader(Reader):
    """An HA group's history: every member's rows, folded as domain.ha_view says. The month
    snapshots it freezes are the group's own (kept under the group's name)."""

    def __init__(self, engine: Engine, group: str, members: Sequence[str]) -> None:
        super().__init__(engine, group)
        self.members = [Reader(engine, m) for m in members]

    def corrections_between(self, start: float, end: float) -> list[Correction]:
        """Every member's corrections: whichever instance an operator ran the command on."""
        return sorted((c for r in self.members for c in r.corrections_between(start, end)), key=lambda c: c.created_at)

    def windows_between(self, start: float, end: float) -> list[StoredWindow]:
        return sorted((w for r in self.members for w in r.windows_between(start, end)), key=lambda w: w.start)

    def periods(self, targets: Iterable[str], start: float, end: float) -> dict[str, list[Period]]:
        ids = list(targets)
        each = [
            (r.periods(ids, start, end), r.coverage(ids, start, end), r.run_coverage(start, end)) for r in self.members
        ]
        out = {}
        for target in ids:
            views = [MemberView(p[target], cov[target] or runs) for p, cov, runs in each]
            out[target] = list(combine(views, end).periods)
        return out

    def marks(self, zones: Iterable[str], start: float, end: float) -> dict[str, tuple[Any, ...]]:
        """Every member's marks, and when the members ran (a member's runs stand for a zone it
        has no spans of), clipped at ``end``."""
        ids = list(zones)
        each = [r.marks(ids, start, end) for r in self.members]
        runs = tuple((a, min(b, end)) for a, b in self.run_coverage(start, end))
        return {z: (*(m[z] for m in each), runs) for z in ids}

    def coverage(self, zones: Iterable[str], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        ids = list(zones)
        each = [r.coverage(ids, start, end) for r in self.members]
        return {z: sorted(pair for c in each for pair in c[z]) for z in ids}

    def run_coverage(self, start: float, end: float) -> list[tuple[float, float]]:
        return sorted(pair for r in self.members for pair in r.run_coverage(start, end))

    def path_seconds(self, zones: Iterable[str], start: float, end: float) -> dict[str, float]:
        """The member whose path failed longest (their cycles cover the same time: not added up)."""
        ids = list(zones)
        each = [r.path_seconds(ids, start, end) for r in self.members]
        return {z: max((e[z] for e in each), default=0.0) for z in ids}

    def usage(self, year: int, month: int) -> dict[str, ZoneUsage]:
        """Each zone's figures from the member that had the most sources for it (they read the
        same RADIUS and SNMP sources: adding them up would count the zone twice)."""
        out: dict[str, ZoneUsage] = {}
        for r in self.members:
            for zone, u in r.usage(year, month).items():
                if zone not in out or len(u.sources) > len(out[zone].sources):
                    out[zone] = u
        return out

    def successes(self, targets: Sequence[str], start: float, end: float) -> Iterator[Success]:
        for r in self.members:
            yield from r.successes(targets, start, end)

    def durations(self, targets: Sequence[str], start: float, end: float) -> Iterator[tuple[str, str, float]]:
        for r in self.members:
            yield from r.durations(targets, start, end)

    def findings_before(self, end: float) -> list[Finding]:
        """One finding per id (members see the same assets), as first seen by any."""
        out: dict[str, Finding] = {}
        for r in self.members:
            for f in r.findings_before(end):
                if f.id not in out or f.first_seen < out[f.id].first_seen:
                    out[f.id] = f
        return list(out.values())
