"""Fill the demo's RADIUS accounting table with SIMULATED sessions, so that `make demo` shows the
zones' use (users, sessions, traffic) without a FreeRADIUS server.

    .venv/bin/python examples/simulate_radius.py examples/demo.yml

Reads the demo configuration for its zones' NAS addresses and the accounting URL file, (re)creates
the table with the columns of FreeRADIUS's stock radacct that vigia reads, and writes sessions from
the first day of this month until now (a few still open). Every user is "simulado-NNNN" and every
MAC is locally administered (02:...): nothing here is anybody's data. Deterministic for a given day.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

COLUMNS = """
    radacctid INTEGER PRIMARY KEY AUTOINCREMENT, acctsessionid TEXT NOT NULL, acctuniqueid TEXT NOT NULL,
    username TEXT, nasipaddress TEXT NOT NULL, calledstationid TEXT, callingstationid TEXT,
    acctstarttime DATETIME, acctupdatetime DATETIME, acctstoptime DATETIME, acctsessiontime INTEGER,
    acctinputoctets INTEGER, acctoutputoctets INTEGER, acctterminatecause TEXT
"""


def main(config: str) -> int:
    conf = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    # A relative path in a configuration is relative to the configuration's folder (kernel.paths).
    url = (Path(config).parent / conf["radius"]["url"]["file"]).read_text().strip()
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nases = [(z["id"], ip) for z in conf.get("zones", []) for ip in z.get("radius", {}).get("nas_ip_addresses", [])]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now.replace(day=1, hour=5, minute=0, second=0)  # the month, from midnight in Bogotá
    rng = random.Random(now.date().toordinal())
    rows = []
    for n, (_zone, nas) in enumerate(nases):
        visitors = [f"02:00:5e:{n:02x}:{u // 256:02x}:{u % 256:02x}" for u in range(40 + 25 * n)]
        when = start
        while when < now:
            mac = rng.choice(visitors)
            seconds = rng.randrange(120, 5400)
            ended = when + timedelta(seconds=seconds)
            still_open = ended > now
            sid = f"sim-{n}-{len(rows):06d}"
            rows.append((
                sid, sid, f"simulado-{int(mac[-5:].replace(':', ''), 16):04d}", nas,
                f"02:00:5e:00:00:{n:02x}:ZonaDigital",
                mac, _iso(when), _iso(now if still_open else ended), None if still_open else _iso(ended),
                0 if still_open else seconds, rng.randrange(100_000, 40_000_000), rng.randrange(500_000, 200_000_000),
                None if still_open else "User-Request",
            ))  # fmt: skip
            when += timedelta(seconds=rng.randrange(300, 2400))
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE IF EXISTS radacct")
        db.execute(f"CREATE TABLE radacct ({COLUMNS})")
        db.executemany(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, calledstationid, "
            "callingstationid, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets, "
            "acctoutputoctets, acctterminatecause) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    print(f"{path}: {len(rows)} SIMULATED sessions for {len(nases)} demo zones, {start:%Y-%m-%d} to now")
    return 0


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "examples/demo.yml"))
