"""vigia's tables and their schema versions (migrations: ``store.migrations``; engines: ``store.backends``).

Times are stored as Unix seconds (UTC, float): unambiguous, comparable in every
engine, and what Prometheus uses too. Each row carries the vigia instance name,
so several instances can share one PostgreSQL database.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from kernel.text import storable

SCHEMA_VERSION = 14


class PeerText(sa.types.TypeDecorator[str]):
    """A TEXT column for what a peer or a probe wrote (messages, evidence, a server's error): kept as
    ``kernel.text.storable`` makes it, so a device answering NUL bytes cannot make PostgreSQL refuse
    the whole write (and the writer retry it for ever, every later result behind it)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else storable(value)


metadata = sa.MetaData()

schema_version = sa.Table(
    "vigia_schema",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated_at", sa.Float, nullable=False),
)

results = sa.Table(
    "probe_results",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("probe", sa.String(32), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
    sa.Column("message", PeerText, nullable=False, default=""),
    # {"values": {...}, "labels": {...}, "series": [[name, {labels}, value], ...]}
    sa.Column("data", sa.Text, nullable=False, default="{}"),
    # Unique (schema 6): a batch written again after a lost commit acknowledgement adds nothing.
    sa.Index("ix_probe_results_target_ts", "instance", "target", "ts", unique=True),
    sa.Index("ix_probe_results_ts", "ts"),
)

outages = sa.Table(
    "outages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # down | maintenance
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("reason", sa.String(32), nullable=False, default=""),
    sa.Column("message", PeerText, nullable=False, default=""),
    sa.Index("ix_outages_target_start", "instance", "target", "started_at"),
    sa.Index("ix_outages_end", "ended_at"),
)

target_state = sa.Table(
    "target_state",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per daemon run, with a heartbeat: gaps between runs are "no data", not downtime.
daemon_runs = sa.Table(
    "daemon_runs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float, nullable=True),
)

hourly = sa.Table(
    "hourly_results",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("hour", sa.Float, primary_key=True),
    sa.Column("probe", sa.String(32), nullable=False),
    sa.Column("samples", sa.Integer, nullable=False),
    sa.Column("successes", sa.Integer, nullable=False),
    sa.Column("duration_sum", sa.Float, nullable=False),
    sa.Column("duration_max", sa.Float, nullable=False),
)

hourly_values = sa.Table(
    "hourly_values",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("hour", sa.Float, primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("labels", sa.String(400), primary_key=True),  # JSON, sorted keys; "" for plain values
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("sum", sa.Float, nullable=False),
    sa.Column("min", sa.Float, nullable=False),
    sa.Column("max", sa.Float, nullable=False),
    sa.Column("last", sa.Float, nullable=False),
)

meta = sa.Table(
    "vigia_meta",
    metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# --- schema version 2: the zones -------------------------------------------

zone_samples_t = sa.Table(
    "zone_samples", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("zone", sa.String(50), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("interval", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("in_hours", sa.Boolean, nullable=False),
    sa.Column("loss", sa.Float, nullable=True),
    sa.Column("rtt", sa.Float, nullable=True),
    sa.Column("checks", sa.Text, nullable=False),
    # Schema 12: the central view's verdict when an agent's inside view decided ``verdict`` (else
    # null, as in older rows: the same): what a span judged again (domain.refold) starts from.
    sa.Column("central", sa.String(16), nullable=True),
    sa.Index("ix_zone_samples_zone_ts", "instance", "zone", "ts", unique=True),  # schema 6, as above
)  # fmt: skip

# Schema 14: the few samples where the centre found a zone dark and its agent found it working
# (Reader.path_seconds), found without reading every sample of the month: 44 million rows at 1,000
# zones took 11 s of a month close. Partial, so a sample the centre did not fail costs no entry; made
# on the partitioned parent on PostgreSQL, so every partition, present and future, gets its own.
PATH_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_zone_samples_path ON zone_samples (instance, zone, ts) WHERE central = 'failed'"
)


def _usage_columns() -> list[sa.Column[Any]]:
    """The figures a usage source gives for a zone and a period (NULL where it gives none)."""
    return [
        sa.Column("source", sa.String(16), primary_key=True),  # radius | snmp
        sa.Column("unique_users", sa.Integer, nullable=True),
        sa.Column("sessions", sa.Integer, nullable=True),
        sa.Column("session_seconds", sa.Float, nullable=True),
        sa.Column("input_octets", sa.Float, nullable=True),
        sa.Column("output_octets", sa.Float, nullable=True),
        sa.Column("peak_concurrent", sa.Integer, nullable=True),
        sa.Column("peak_clients", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    ]


# Usage per zone and local calendar day / month, as computed by each source. Distinct counts
# (unique users) cannot be summed across days, so the month is stored as the source computed it.
usage_daily = sa.Table(
    "usage_daily", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, configured timezone
    *_usage_columns(),
)  # fmt: skip

usage_monthly = sa.Table(
    "usage_monthly", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),  # YYYY-MM
    *_usage_columns(),
)  # fmt: skip

operator_usage = sa.Table(
    "operator_usage", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("smartphone", sa.Integer, nullable=False),
    sa.Column("tablet", sa.Integer, nullable=False),
    sa.Column("pc", sa.Integer, nullable=False),
    sa.Column("other", sa.Integer, nullable=False),
    sa.Column("source_file", sa.String(400), nullable=False),
    sa.Column("source_line", sa.Integer, nullable=False),
    sa.Column("imported_at", sa.Float, nullable=False),
)  # fmt: skip

V2_TABLES = (zone_samples_t, usage_daily, usage_monthly, operator_usage)

# --- schema version 3: month snapshots --------------------------------------

# A closed month's figures, frozen: retention never touches this table.
month_snapshots = sa.Table(
    "month_snapshots", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),  # zones | datacenter | security
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)  # fmt: skip
V3_TABLES = (month_snapshots,)

# --- schema version 4: security findings ------------------------------------

# One row per finding (kind, asset, detail), kept for ever: its whole life is the audit trail.
findings_t = sa.Table(
    "security_findings", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("asset", sa.String(255), nullable=False),
    sa.Column("detail", sa.String(100), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("control", sa.String(16), nullable=False),
    sa.Column("mspi", sa.String(100), nullable=False),
    sa.Column("evidence", PeerText, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("resolved_at", sa.Float, nullable=True),
    sa.Column("reopened", sa.Integer, nullable=False, default=0),
)  # fmt: skip
V4_TABLES = (findings_t,)

# --- schema version 5: several instances on one database -------------------

# Each running vigia process, as the lease keeper last saw it (times on the database's clock).
# A member's role; a claim's state. DUE: a period an instance saw fall due while it did not lead
# (the leader killed at the due second): whoever claims it takes the row over, and a leader that
# finds it still due runs it late or records it missed, so no period passes unaccounted for.
# DISRUPTING: a running claim's detail once a disruptive step passed its fence.
LEADER, FOLLOWER, STOPPED = "leader", "follower", "stopped"
RUNNING, DONE, FAILED, DUE = "running", "done", "failed", "due"
DISRUPTING = "disrupting"

members = sa.Table(
    "vigia_members", metadata,
    sa.Column("holder", sa.String(200), primary_key=True),  # instance/host/pid/random: one process
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("ha_group", sa.String(100), nullable=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("role", sa.String(12), nullable=False),  # leader | follower | stopped
    sa.Column("epoch", sa.BigInteger, nullable=True),
    sa.Index("ix_vigia_members_seen", "last_seen"),
)  # fmt: skip

# The leader lease: one row per lease name; ``epoch`` grows by one at every change of holder
# (the fencing token); ``expires_at`` is on the database's clock, never a process's.
leases = sa.Table(
    "vigia_leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)  # fmt: skip

# One row per singleton job and period: the primary key is what makes a period run once.
job_claims = sa.Table(
    "vigia_job_claims", metadata,
    sa.Column("job", sa.String(120), primary_key=True),
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # running | done | failed
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("detail", sa.String(500), nullable=False, default=""),
)  # fmt: skip
V5_TABLES = (members, leases, job_claims)

# --- schema version 8: when each zone was measured, as spans (store.spans) --------

zone_spans = sa.Table(
    "zone_spans", metadata,
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(50), primary_key=True),
    sa.Column("start", sa.Float, primary_key=True),
    sa.Column("end", sa.Float, nullable=False),
)  # fmt: skip
V8_TABLES = (zone_spans,)

# --- schema version 9: a finished hour's raw results, one compressed chunk per target (store.chunks)

result_chunks = sa.Table(
    "probe_result_chunks", metadata,
    # (instance, hour, target): reads take an instance's hours, retention drops its oldest ones.
    sa.Column("instance", sa.String(100), primary_key=True),
    sa.Column("hour", sa.Float, primary_key=True),
    sa.Column("target", sa.String(100), primary_key=True),
    sa.Column("checks", sa.Integer, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)  # fmt: skip
V9_TABLES = (result_chunks,)

# --- schema version 10: incidents and their history (store.incidents), operators' maintenance ------

incidents_t = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("zones", sa.Text, nullable=False),  # zone ids, comma-separated
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("cause", sa.String(16), nullable=False),
    sa.Column("ticket", sa.String(64), nullable=False, default=""),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("closed_at", sa.Float, nullable=True),
    sa.Index("ix_incidents_open", "instance", "closed_at"),
)  # fmt: skip

incident_events = sa.Table(
    "incident_events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("incident", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("by", sa.String(64), nullable=False),  # the operating-system user
    sa.Column("kind", sa.String(8), nullable=False),  # opened | update | closed
    sa.Column("text", sa.Text, nullable=False),
)  # fmt: skip
# Maintenance windows an operator added from the command line (`vigia maintenance`), beside the
# configured ones: the daemon reads them every cycle, so they apply without a reload.
maintenance_t = sa.Table(
    "maintenance_windows", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("zones", sa.Text, nullable=False, default=""),  # comma-separated ids
    sa.Column("targets", sa.Text, nullable=False, default=""),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("cancelled_at", sa.Float, nullable=True),
    sa.Column("cancelled_by", sa.String(64), nullable=True),
    sa.Index("ix_maintenance_windows_end", "instance", "end"),
)  # fmt: skip
V10_TABLES = (incidents_t, incident_events, maintenance_t)


# PostgreSQL advisory lock keys (one 64-bit space per database): schema changes, and the fast
# path of the leader lease. Arbitrary constants, fixed for ever: every vigia must agree on them.
MIGRATION_LOCK = 0x76696769_61000001
LEADER_LOCK = 0x76696769_61000002


def drill_jobs_table(dialect: str, instance: str) -> str:
    """APScheduler's table of drill schedules. A job store is never shared by two schedulers (they
    would run a job twice or miss it): on PostgreSQL, where several instances meet, each instance
    has its own (instance names must be unique per process); SQLite keeps the original name."""
    if dialect != "postgresql":
        return "apscheduler_drill_jobs"
    suffix = instance if len(instance) <= 32 else hashlib.sha256(instance.encode()).hexdigest()[:16]
    return f"apscheduler_drill_jobs_{suffix}"


def overlapping(instance: str, start: float, end: float) -> sa.ColumnElement[bool]:
    """Periods of ``instance`` overlapping [start, end): still open ones included."""
    o = outages
    return sa.and_(o.c.instance == instance, o.c.started_at < end, sa.or_(o.c.ended_at.is_(None), o.c.ended_at > start))
