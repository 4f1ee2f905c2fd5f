"""A fresh database on the local PostgreSQL server for one test, dropped after (FORCE: whatever
sessions the test left behind). Skips, or fails under CI, when the server is not running."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import need

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/"
REASON = "needs the local PostgreSQL server on 127.0.0.1:5432 (deploy/test-services.sh starts it)"


def available() -> bool:
    try:
        import psycopg

        with psycopg.connect(ADMIN, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception:
        return False
    return True


def admin(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` as the server's superuser, outside any test database; the rows it returns."""
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


@contextmanager
def database() -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database."""
    need(available(), REASON)
    name = f"vigia_test_{secrets.token_hex(4)}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{BASE}{name}"
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_in(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` as the superuser inside the test database ``url`` names."""
    import psycopg

    with psycopg.connect(f"{ADMIN.rsplit('dbname=', 1)[0]}dbname={url.rsplit('/', 1)[1]}", autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []
