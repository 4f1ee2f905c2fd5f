"""One scalar read from a database that is not vigia's (a drill's recovery-point check): its own
engine, a connect timeout where the driver takes one, disposed after."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kernel.redact import database_url


def scalar(url: str, query: str, timeout: float) -> Any:
    """The first column of the first row of ``query`` (None if no row)."""
    url = database_url(url)
    engine = sa.create_engine(url, connect_args={"connect_timeout": int(timeout)} if "postgresql" in url else {})
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar()
    finally:
        engine.dispose()
