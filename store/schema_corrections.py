"""Schema version 13: corrections after the fact (domain.corrections), beside store.schema on its
metadata. A correction names the span it corrects (zone or target, start, end), not an outage row:
a refold rewrites a zone's outage rows, and the correction must outlive that. Rows are only ever
added: an auditor reads who corrected what, when and why, and the measured periods stay."""

from __future__ import annotations

import sqlalchemy as sa

from store.schema import metadata

corrections_t = sa.Table(
    "corrections", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("instance", sa.String(100), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),  # a zone or a target
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # exclude | annotate
    sa.Column("cause", sa.String(32), nullable=False, default=""),  # annotate: the cause it gives
    sa.Column("text", sa.Text, nullable=False),  # the reason (exclude) or the note (annotate)
    sa.Column("measured", sa.String(200), nullable=False, default=""),  # the period as measured: kind, reason
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_corrections_span", "instance", "target", "start"),
)  # fmt: skip
