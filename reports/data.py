"""What the reports read from vigia's store: state periods, measured time, usage. Read only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reports.indicators import Period
from store import db as st


def zone_periods(
    engine: Engine, instance: str, zones: Iterable[str], start: float, end: float
) -> dict[str, list[Period]]:
    """State periods of each zone overlapping [start, end)."""
    ids = list(zones)
    out: dict[str, list[Period]] = {z: [] for z in ids}
    o = st.outages
    q = (
        sa.select(o.c.target, o.c.kind, o.c.started_at, o.c.ended_at, o.c.reason)
        .where(
            o.c.instance == instance,
            o.c.target.in_(ids),
            o.c.started_at < end,
            sa.or_(o.c.ended_at.is_(None), o.c.ended_at > start),
        )
        .order_by(o.c.started_at)
    )
    with engine.connect() as conn:
        for row in conn.execute(q):
            out[row.target].append(Period(row.kind, row.started_at, row.ended_at, row.reason))
    return out


def zone_coverage(engine: Engine, instance: str, zone: str, start: float, end: float) -> list[tuple[float, float]]:
    """When the zone was measured: each stored cycle sample covers its interval."""
    z = st.zone_samples_t
    q = (
        sa.select(z.c.ts, z.c.interval)
        .where(z.c.instance == instance, z.c.zone == zone, z.c.ts < end, z.c.ts > start - 86400)
        .order_by(z.c.ts)
    )
    with engine.connect() as conn:
        return [(ts, ts + interval) for ts, interval in conn.execute(q)]


@dataclass
class ZoneUsage:
    unique_users: int | None = None
    sessions: int | None = None
    session_seconds: float | None = None
    input_octets: float | None = None
    output_octets: float | None = None
    peak_concurrent: int | None = None
    peak_clients: int | None = None
    devices: dict[str, int] = field(default_factory=dict)  # operator CSV: smartphone, tablet, pc, other
    sources: list[str] = field(default_factory=list)


def usage(engine: Engine, instance: str, year: int, month: int) -> dict[str, ZoneUsage]:
    key = f"{year:04d}-{month:02d}"
    out: dict[str, ZoneUsage] = defaultdict(ZoneUsage)
    m, d, op = st.usage_monthly, st.usage_daily, st.operator_usage
    with engine.connect() as conn:
        for row in conn.execute(sa.select(m).where(m.c.instance == instance, m.c.month == key, m.c.source == "radius")):
            u = out[row.zone]
            u.unique_users, u.sessions, u.session_seconds = row.unique_users, row.sessions, row.session_seconds
            u.input_octets, u.output_octets, u.peak_concurrent = (
                row.input_octets,
                row.output_octets,
                row.peak_concurrent,
            )
            u.sources.append("radius")
        q = (
            sa.select(
                d.c.zone, sa.func.sum(d.c.input_octets), sa.func.sum(d.c.output_octets), sa.func.max(d.c.peak_clients)
            )
            .where(d.c.instance == instance, d.c.source == "snmp", d.c.day.like(f"{key}-%"))
            .group_by(d.c.zone)
        )
        for zone, rx, tx, peak in conn.execute(q):
            u = out[zone]
            if u.input_octets is None:  # RADIUS octets are per user; SNMP's are the device's: prefer RADIUS
                u.input_octets, u.output_octets = rx, tx
            u.peak_clients = peak
            u.sources.append("snmp")
        for row in conn.execute(sa.select(op).where(op.c.instance == instance, op.c.year == year, op.c.month == month)):
            u = out[row.zone]
            u.devices = {"smartphone": row.smartphone, "tablet": row.tablet, "pc": row.pc, "other": row.other}
            u.sources.append("operador")
    return dict(out)


def run_coverage(engine: Engine, instance: str, start: float, end: float) -> list[tuple[float, float]]:
    """When some vigia run of this instance was up (its heartbeat), for targets without zone samples."""
    d = st.daemon_runs
    q = sa.select(d.c.started_at, d.c.last_seen).where(
        d.c.instance == instance, d.c.started_at < end, d.c.last_seen > start
    )
    with engine.connect() as conn:
        return [(a, b) for a, b in conn.execute(q)]
