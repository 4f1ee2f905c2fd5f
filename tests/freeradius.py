"""A real FreeRADIUS (Debian's freeradius, rlm_sql) writing accounting rows, fed by radclient.

The server gets a minimal configuration of its own in a temporary directory: one accounting
listener on a loopback address, one client (127.0.0.0/8), and the sql module with FreeRADIUS's
stock queries for the chosen dialect, writing into the given database.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port, need_binary

SECRET = "s3creto-radius"

CONFIG = """
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = /etc/freeradius/3.0/mods-config
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
}}
security {{
  allow_core_dumps = no
}}
thread pool {{
  start_servers = 1
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 2
}}
client lab {{
  ipaddr = 127.0.0.0/8
  secret = {secret}
}}
modules {{
  expr {{
  }}
  sql {{
    dialect = "{dialect}"
    driver = "rlm_sql_{driver}"
    {connection}
    radius_db = "{database}"
    acct_table1 = "radacct"
    acct_table2 = "radacct"
    postauth_table = "radpostauth"
    authcheck_table = "radcheck"
    groupcheck_table = "radgroupcheck"
    authreply_table = "radreply"
    groupreply_table = "radgroupreply"
    usergroup_table = "radusergroup"
    group_attribute = "SQL-Group"
    client_table = "nas"
    read_groups = no
    read_clients = no
    delete_stale_sessions = yes
    pool {{
      start = 1
      min = 1
      max = 2
      spare = 1
      uses = 0
      lifetime = 0
      idle_timeout = 60
    }}
    $INCLUDE ${{modconfdir}}/sql/main/${{dialect}}/queries.conf
  }}
}}
server default {{
  listen {{
    type = acct
    ipaddr = {address}
    port = {port}
  }}
  preacct {{
    update request {{
      &Acct-Unique-Session-Id := "%{{md5:%{{Acct-Session-Id}},%{{NAS-IP-Address}},%{{Called-Station-Id}}}}"
    }}
  }}
  accounting {{
    sql
  }}
}}
"""


@contextmanager
def freeradius(tmp: Path, url: str) -> Iterator[tuple[str, int]]:
    """Start FreeRADIUS writing into the database at ``url``; yields (address, port)."""
    binary = need_binary("freeradius", "freeradius")
    need_binary("radclient", "freeradius-utils")
    directory = tmp / "raddb"
    directory.mkdir()
    address, port = "127.0.0.88", free_port("127.0.0.88")
    if url.startswith("sqlite"):
        dialect, driver, database = "sqlite", "sqlite", "radius"
        connection = f'sqlite {{\n      filename = "{url.split(":///", 1)[1]}"\n    }}'
    else:
        # postgresql+psycopg://postgres@127.0.0.1:5432/NAME
        database = url.rsplit("/", 1)[1]
        dialect, driver = "postgresql", "postgresql"
        connection = 'server = "127.0.0.1"\n    port = 5432\n    login = "postgres"\n    password = ""'
    (directory / "radiusd.conf").write_text(
        CONFIG.format(
            dir=directory,
            secret=SECRET,
            dialect=dialect,
            driver=driver,
            connection=connection,
            database=database,
            address=address,
            port=port,
        )
    )
    log = open(directory / "radiusd.log", "wb")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen([binary, "-f", "-l", "stdout", "-d", str(directory)], stdout=log, stderr=log)
    try:
        for _ in range(100):  # until it listens, bounded
            if f"{address}:{port}".encode() in (directory / "radiusd.log").read_bytes() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, (directory / "radiusd.log").read_text()[-3000:]
        time.sleep(0.2)
        yield address, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def account(server: tuple[str, int], **attrs: object) -> None:
    """Send one Accounting-Request with radclient and insist on the Accounting-Response."""
    body = "".join(f"{k.replace('_', '-')} = {v if isinstance(v, int) else repr(str(v))}\n" for k, v in attrs.items())
    out = subprocess.run(
        ["radclient", "-r", "2", "-t", "2", f"{server[0]}:{server[1]}", "acct", SECRET],
        input=body,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "Received Accounting-Response" in out.stdout, out.stdout + out.stderr
