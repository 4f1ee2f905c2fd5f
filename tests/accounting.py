"""Accounting databases with FreeRADIUS's own stock schema (Debian's freeradius-config), in SQLite,
the local PostgreSQL and the local MariaDB, and a deterministic month of sessions to fill them."""

from __future__ import annotations

import random
import secrets
import sqlite3
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import need

SCHEMAS = Path("/etc/freeradius/3.0/mods-config/sql/main")


def schema(dialect: str) -> str:
    path = SCHEMAS / dialect / "schema.sql"
    need(path.exists(), f"needs FreeRADIUS's stock schema {path} (Debian package freeradius-config)")
    return path.read_text()


@contextmanager
def accounting_db(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh database holding the stock radacct table; yields its SQLAlchemy URL."""
    name = f"vigia_radius_{secrets.token_hex(4)}"
    if kind == "sqlite":
        path = tmp / "radius.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(schema("sqlite"))
        yield f"sqlite:///{path}"
        return
    if kind == "postgresql":
        text = schema("postgresql")
        ok = (
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f'CREATE DATABASE "{name}"'], capture_output=True
            ).returncode
            == 0
        )
        need(ok, "needs the local PostgreSQL server on 127.0.0.1:5432")
        try:
            subprocess.run(
                ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", name],
                input=text.encode(),
                check=True,
                capture_output=True,
            )
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                capture_output=True,
            )
        return
    if kind == "mariadb":
        text = schema("mysql")
        ok = (
            subprocess.run(
                ["mariadb", "-h", "127.0.0.1", "-uroot", "-e", f"CREATE DATABASE {name}"], capture_output=True
            ).returncode
            == 0
        )
        need(ok, "needs the local MariaDB server on 127.0.0.1:3306")
        try:
            subprocess.run(
                ["mariadb", "-h", "127.0.0.1", "-uroot", name], input=text.encode(), check=True, capture_output=True
            )
            yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        finally:
            subprocess.run(
                ["mariadb", "-h", "127.0.0.1", "-uroot", "-e", f"DROP DATABASE IF EXISTS {name}"], capture_output=True
            )
        return
    raise ValueError(kind)


@dataclass(frozen=True)
class Session:
    nas: str
    called: str
    calling: str
    start: datetime
    stop: datetime | None
    seconds: int
    octets_in: int
    octets_out: int


def month_of_sessions(n: int, start: datetime, *, seed: int = 7) -> list[Session]:
    """Sessions spread over 30 days on four NAS, some still open; MACs reused so users repeat."""
    rng = random.Random(seed)
    nases = ["10.213.1.2", "10.213.2.2", "10.213.3.2", "10.213.9.9"]
    aps = ["AA-BB-CC-00-00-01:ZonaDigital-ZD04", "AA-BB-CC-00-00-02:ZonaDigital-ZD04", "11-22-33-44-55-66:Otra"]
    out = []
    for i in range(n):
        begin = start + timedelta(seconds=rng.randrange(0, 30 * 86400))
        seconds = rng.randrange(60, 4 * 3600)
        still_open = i % 97 == 0
        out.append(
            Session(
                nas=nases[i % 4] if i % 5 else "10.213.4.2",
                called=aps[i % 3],
                calling=f"02-00-00-{(i * 7919) % 5000:04X}"[:17],
                start=begin,
                stop=None if still_open else begin + timedelta(seconds=seconds),
                seconds=0 if still_open else seconds,
                octets_in=rng.randrange(10_000, 50_000_000),
                octets_out=rng.randrange(10_000, 200_000_000),
            )
        )
    return out


def insert(url: str, sessions: list[Session], *, naive_tz: str = "UTC", batch: int = 20_000, first: int = 0) -> None:
    """Rows for the sessions; the i-th gets session id ``s{first + i:08x}``."""
    engine = sa.create_engine(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)  # SQLite's int(12) widths
        table = sa.Table("radacct", sa.MetaData(), autoload_with=engine)
    cols = {c.name.lower(): c.name for c in table.columns}
    aware = bool(getattr(table.columns[cols["acctstarttime"]].type, "timezone", False))

    def ts(value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value if aware else value.astimezone(UTC).replace(tzinfo=None)

    rows = []
    for i, s in enumerate(sessions, start=first):
        rows.append(
            {
                cols["acctsessionid"]: f"s{i:08x}",
                cols["acctuniqueid"]: f"u{i:031x}"[:32],
                cols["username"]: s.calling,
                cols["nasipaddress"]: s.nas,
                cols["calledstationid"]: s.called,
                cols["callingstationid"]: s.calling,
                cols["acctstarttime"]: ts(s.start),
                cols["acctupdatetime"]: ts(s.stop or s.start),
                cols["acctstoptime"]: ts(s.stop),
                cols["acctsessiontime"]: s.seconds,
                cols["acctinputoctets"]: s.octets_in,
                cols["acctoutputoctets"]: s.octets_out,
            }
        )
    with engine.begin() as conn:
        for k in range(0, len(rows), batch):
            conn.execute(table.insert(), rows[k : k + batch])
    engine.dispose()
