"""Schema version 11: zone agents (store.agents) and what they measured inside their zones.

Beside store.schema, on its metadata: the store (store.db) imports this module with its own, so
a new database and the migration to 11 both make these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from store.schema import PeerText, metadata

# One row per zone agent of an owner (an instance, or the HA group its instances share): its token
# (hashed: printed once, never kept), when it was revoked, and what its last push said.
agents_t = sa.Table(
    "agents", metadata,
    sa.Column("owner", sa.String(100), primary_key=True),
    sa.Column("zone", sa.String(64), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("revoked_by", sa.String(64), nullable=True),
    sa.Column("last_push_at", sa.Float, nullable=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("skew_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("version", sa.String(40), nullable=False, default=""),
    sa.Column("boot_time", sa.Float, nullable=True),
    sa.Column("clock_synced", sa.Boolean, nullable=True),
    sa.Column("dropped_total", sa.BigInteger, nullable=False, default=0),
    sa.Column("backlog", sa.BigInteger, nullable=False, default=0),  # results in its outbox when it sent
)  # fmt: skip

# An agent's results, at their measurement time on the centre's clock (corrected by the measured
# offset). Unique on (owner, zone, seq): a replayed batch, or one two instances both received,
# stores each result once.
agent_results = sa.Table(
    "agent_results", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("check", sa.String(64), nullable=False),
    sa.Column("probe", sa.String(64), nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, default=""),
    sa.Column("message", PeerText, nullable=False, default=""),
    sa.Column("data", sa.Text, nullable=False, default="{}"),  # {"values": {...}, "labels": {...}}
    sa.Index("ix_agent_results_seq", "owner", "zone", "seq", unique=True),
    sa.Index("ix_agent_results_ts", "owner", "zone", "ts"),
)  # fmt: skip
V11_TABLES = (agents_t, agent_results)

# --- schema version 12: spans of a zone to judge again (domain.refold) ------
# Written with the batch that calls for them (late results, a reboot), one row per instance that
# stores the zone's periods (every member of the agent's HA group), deleted by that instance in
# the transaction that rewrites its periods: a crash in between leaves the row, and the refold is
# done at the next start.
zone_refolds = sa.Table(
    "zone_refolds", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),  # whose agent results to read (store.agents)
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("rebooted", sa.Boolean, nullable=False, default=False),
    sa.Column("requested_at", sa.Float, nullable=False),
    sa.Index("ix_zone_refolds_instance", "instance"),
)  # fmt: skip
V12_TABLES = (zone_refolds,)
