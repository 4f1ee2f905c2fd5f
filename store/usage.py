"""Usage figures in the store: RADIUS and SNMP daily and monthly rows, the operator's monthly CSV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from probes.usage.operator_csv import OperatorMonth
from store.backends import reading, writing
from store.base import Tables
from store.schema import operator_usage, usage_daily, usage_monthly

if TYPE_CHECKING:
    from domain.usage import UsageRow


class UsageTables(Tables):
    def import_operator_months(self, rows: Sequence[OperatorMonth], file: str, now: float) -> tuple[int, int]:
        """Upsert operator monthly figures; returns (new, replaced). One transaction."""
        new = replaced = 0
        with writing(self.engine) as conn:
            for row in rows:
                key = (
                    operator_usage.c.instance == self.instance,
                    operator_usage.c.zone == row.zone,
                    operator_usage.c.year == row.year,
                    operator_usage.c.month == row.month,
                )
                values = {
                    "smartphone": row.smartphone, "tablet": row.tablet, "pc": row.pc, "other": row.other,
                    "source_file": file[-400:], "source_line": row.line, "imported_at": now,
                }  # fmt: skip
                if conn.execute(operator_usage.update().where(*key).values(**values)).rowcount:
                    replaced += 1
                else:
                    conn.execute(
                        operator_usage.insert().values(
                            instance=self.instance, zone=row.zone, year=row.year, month=row.month, **values
                        )
                    )
                    new += 1
        return new, replaced

    def write_usage(self, source: str, daily: Sequence[UsageRow], monthly: Sequence[UsageRow], now: float) -> None:
        """Upsert one source's figures for today and this month (zeros where it saw nothing)."""
        with writing(self.engine) as conn:
            for table, key, rows in ((usage_daily, "day", daily), (usage_monthly, "month", monthly)):
                for row in rows:
                    u = row.usage
                    peak = row.peak
                    if table is usage_monthly and peak is None:
                        # The month's peak of simultaneous sessions is the highest of its days' peaks
                        # (each day's peak counts the sessions carried over from the day before).
                        peak = conn.execute(
                            sa.select(sa.func.max(usage_daily.c.peak_concurrent)).where(
                                usage_daily.c.instance == self.instance,
                                usage_daily.c.zone == row.zone,
                                usage_daily.c.source == source,
                                usage_daily.c.day.like(f"{row.period}-%"),
                            )
                        ).scalar_one_or_none()
                    values = {
                        "unique_users": u.unique_users if u else 0, "sessions": u.sessions if u else 0,
                        "session_seconds": u.session_seconds if u else 0.0,
                        "input_octets": u.input_octets if u else 0.0, "output_octets": u.output_octets if u else 0.0,
                        "peak_concurrent": peak, "updated_at": now,
                        **({"peak_clients": row.peak_clients} if row.peak_clients is not None else {}),
                    }  # fmt: skip
                    where = (
                        table.c.instance == self.instance,
                        table.c.zone == row.zone,
                        table.c[key] == row.period,
                        table.c.source == source,
                    )
                    if not conn.execute(table.update().where(*where).values(**values)).rowcount:
                        conn.execute(
                            table.insert().values(
                                instance=self.instance, zone=row.zone, source=source, **{key: row.period}, **values
                            )
                        )

    def usage_for_day(self, day: str, source: str) -> list[sa.Row[Any]]:
        with reading(self.engine) as conn:
            return list(
                conn.execute(
                    sa.select(usage_daily).where(
                        usage_daily.c.instance == self.instance,
                        usage_daily.c.day == day,
                        usage_daily.c.source == source,
                    )
                )
            )

    def operator_months(self, year: int, month: int) -> list[sa.Row[Any]]:
        with reading(self.engine) as conn:
            return list(
                conn.execute(
                    sa.select(operator_usage)
                    .where(
                        operator_usage.c.instance == self.instance,
                        operator_usage.c.year == year,
                        operator_usage.c.month == month,
                    )
                    .order_by(operator_usage.c.zone)
                )
            )
