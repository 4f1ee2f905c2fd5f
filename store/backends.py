"""What differs between the backends: the engine and its settings, the INSERT that knows ON
CONFLICT and the database's own clock; and the one place a database error becomes a StoreError.

Every read and write of the store goes through ``reading`` or ``writing``: a driver's error (the
server restarted, the disk is full, a lock timed out) leaves the store as a ``StoreError`` naming
what failed, its cause chained, so no SQLAlchemy or driver exception crosses into the daemon or
the command line (httpx's ``map_exceptions``, once at the transport boundary).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kernel.errors import StoreError, short
from kernel.redact import database_url


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """A database error in the block leaves it as StoreError("{what}: {cause}")."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"{what}: {short(exc)}") from exc


def refused_data(exc: BaseException) -> bool:
    """Whether the database refused a write for what it held (a value it cannot take, a constraint
    it breaks), which no retry mends, rather than for want of a connection, a lock or room."""
    cause: BaseException | None = exc
    for _ in range(5):  # StoreError <- SQLAlchemy's wrapper <- the driver's error
        if isinstance(cause, sa.exc.DataError | sa.exc.IntegrityError):
            return True
        cause = cause.__cause__ if cause is not None else None
    return False


@contextmanager
def reading(engine: Engine) -> Iterator[sa.Connection]:
    """A connection to read with; its errors become StoreError."""
    with mapped("cannot read the store"), engine.connect() as conn:
        yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[sa.Connection]:
    """A transaction, committed at the end of the block; its errors become StoreError."""
    with mapped("cannot write to the store"), engine.begin() as conn:
        yield conn


def insert_for(dialect: str, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite both do)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def db_now(dialect: str) -> sa.ColumnElement[float]:
    """The database's clock, Unix seconds: leases and heartbeats never trust a process's clock."""
    if dialect == "postgresql":
        return sa.literal_column("EXTRACT(EPOCH FROM clock_timestamp())", sa.Float)
    return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Float)


def engine_for(url: str) -> Engine:
    """An engine with the settings vigia relies on for each backend."""
    url = database_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute("PRAGMA synchronous=NORMAL")
            # After each checkpoint the WAL file is cut back to this size instead of keeping its
            # largest (a WAL that held a backlog kept its megabytes for ever).
            cur.execute("PRAGMA journal_size_limit=4194304")
            cur.close()

        return engine
    # A database that vanishes from the network must fail calls in seconds, not hang them for the
    # kernel's retransmission timeout (15 minutes): the writer keeps the rows and retries, the lease
    # keeper steps down. The URL's own settings win.
    given = sa.engine.make_url(url).query
    args = {k: v for k, v in PG_CONNECT.items() if k not in given}
    return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=2, connect_args=args)


PG_CONNECT: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms of unacknowledged data before the connection is given up
}


def safe_url(url: str) -> str:
    """The URL with any password masked, for logs and errors."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid store URL>"
