"""Schema version 13 (with store.schema_corrections): the ledger of the reports' deliveries by
e-mail (reports.delivery), one row per month and recipient of an instance or HA group. Its unique
key and the claim written before a message is handed to the server make a delivery happen once,
across restarts and instances."""

from __future__ import annotations

import sqlalchemy as sa

from store.schema import PeerText, metadata

deliveries_t = sa.Table(
    "report_deliveries", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(100), nullable=False),  # the instance or HA group whose month it is
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("recipient", sa.String(254), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | sending | sent | failed | uncertain
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("claimed_by", sa.String(200), nullable=False, default=""),
    sa.Column("claimed_at", sa.Float),
    sa.Column("last_error", PeerText, nullable=False, default=""),
    sa.Column("sent_at", sa.Float),
    sa.Column("message_id", sa.String(250), nullable=False, default=""),
    sa.UniqueConstraint("scope", "month", "recipient", name="uq_report_deliveries"),
)  # fmt: skip
