"""A real agent and a real centre on loopback: the agent measures its zone on the centre's list
of checks, keeps measuring while the centre is away, and every result arrives exactly once, with
its own measurement time, when the centre is back. (The zone lab with namespaces and a cut link
is tests/test_agent_lab.py's, when it lands; this one needs no namespace.)"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from monitor.cli import main
from tests.agentcentre import agent_file, centre_config, run_agent
from tests.conftest import need, need_root
from tests.vigiaproc import VigiaProcess

CENTRE = centre_config("""  - id: ZD-01
    name: Plaza
    lat: 10.4
    lon: -75.5
    agent: {interval: 1s, timeout: 500ms, gateway: 127.0.0.1, anchors: [127.0.0.2]}
""").replace(
    "zones:\n", "zone_defaults: {interval: 2s, timeout: 1s}  # no target at 2 s: the zone's own cycle\nzones:\n"
)


def rows(centre: VigiaProcess) -> list[tuple[int, float, str]]:
    with sqlite3.connect(centre.tmp / "state" / "vigia.db") as db:
        return db.execute('SELECT seq, ts, "check" FROM agent_results ORDER BY seq').fetchall()


def wait(what, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if what():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out: {message}")


def test_the_agent_keeps_measuring_while_the_centre_is_away_and_delivers_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_root()  # ICMP to the gateway, as the agent on a zone's box does
    centre = VigiaProcess(CENTRE, tmp_path)
    centre.start().wait_ready()
    agent = _agent(tmp_path, capsys, centre.config, [centre.url])
    try:
        wait(lambda: len(rows(centre)) >= 4, 20, "the agent's first results at the centre")
        assert {c for _, _, c in rows(centre)} == {"gateway", "internet:127.0.0.2"}
        centre.stop()
        away_from, _ = time.time(), time.sleep(4)
        away_to = time.time()
        centre.start().wait_ready()
        wait(lambda: any(ts > away_to for _, ts, _ in rows(centre)), 30, "the backlog and fresh results")
        got = rows(centre)
        seqs = [s for s, _, _ in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost, nothing twice
        during = [ts for _, ts, _ in got if away_from + 0.5 < ts < away_to - 0.5]
        assert len(during) >= 4  # measured while the centre was away, stored at their own times
        # The NOC sees the agent: its last push (read from the store with the operators' input).
        centre.wait_for(lambda: (centre.value("vigia_agent_last_push_timestamp_seconds", zone="ZD-01") or 0) > away_to,
                        timeout=25, message="the agent's last push in /metrics")  # fmt: skip
        assert centre.value("vigia_agent_info", zone="ZD-01", state="live") == 1.0
        assert centre.value("vigia_agent_dropped_results_total", zone="ZD-01") == 0.0
        # A zone with no check from the centre is judged by its agent alone: up, as it sees it.
        assert centre.value("vigia_zone_up", zone="ZD-01") == 1.0
    finally:
        code = _stop(agent)
        centre.stop()
    assert code == 0, (tmp_path / "agent.log").read_text()[-3000:]


def _stop(agent: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as systemd stops it; killed if it has not ended within 15 s. Its exit code."""
    agent.send_signal(signal.SIGTERM)
    try:
        return agent.wait(timeout=15)
    except subprocess.TimeoutExpired:
        agent.kill()
        return agent.wait()


def _agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Path, urls: list[str]
) -> subprocess.Popen[bytes]:
    assert main(["agent", "add", "ZD-01", "--config", str(config)]) == 0
    return run_agent(agent_file(tmp_path / "agent", "ZD-01", capsys.readouterr().out, urls), tmp_path / "agent.log")


def test_two_centres_of_an_ha_group_the_agent_fails_over_mid_backlog_no_gap_no_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_root()
    import sqlalchemy as sa

    from tests import pgdb

    need(pgdb.available(), "needs the local PostgreSQL server (deploy/test-services.sh starts it)")
    with pgdb.database() as url:
        (tmp_path / "url").write_text(url)
        shared = f"ha_group: centro\nstore: {{url_file: {tmp_path / 'url'}}}\n"
        centres = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            text = CENTRE.replace("instance: centro\n", f"instance: centro-{name}\n{shared}")
            centres.append(VigiaProcess(text, tmp_path / name))
        for c in centres:
            c.start().wait_ready()
        engine = sa.create_engine(url)

        def stored() -> list[tuple[int, float]]:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.exec_driver_sql("SELECT seq, ts FROM agent_results ORDER BY seq")]

        agent = _agent(tmp_path, capsys, centres[0].config, [c.url for c in centres])
        try:
            wait(lambda: len(stored()) >= 6, 30, "the agent's first results at centre a")
            centres[0].stop()  # the first centre goes; the agent's backlog goes to the second
            gone = time.time()
            wait(lambda: any(ts > gone + 3 for _, ts in stored()), 30, "results after the fail-over")
            seqs = [s for s, _ in stored()]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, nothing twice
        finally:
            _stop(agent)
            for c in centres:
                c.stop()
            engine.dispose()
        assert "using it from now on" in (tmp_path / "agent.log").read_text()


def test_the_centres_database_dropping_every_connection_mid_push_loses_and_doubles_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL drops every session of the centre's database, again and again, while the agent
    pushes (what a restart looks like from vigia): a batch caught in it is refused with 503 and
    sent again, one between drops finds its connection gone and takes a new one; when the database
    settles every result is stored once, none missing."""
    need_root()
    import sqlalchemy as sa

    from tests import pgdb

    need(pgdb.available(), "needs the local PostgreSQL server (deploy/test-services.sh starts it)")
    with pgdb.database() as url:
        (tmp_path / "url").write_text(url)
        centre = VigiaProcess(CENTRE.replace("instance: centro\n", f"instance: centro\nstore: {{url_file: "
                                             f"{tmp_path / 'url'}}}\n"), tmp_path)  # fmt: skip
        centre.start().wait_ready()
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

        def stored() -> list[int]:
            with engine.connect() as conn:
                return [r[0] for r in conn.exec_driver_sql("SELECT seq FROM agent_results ORDER BY seq")]

        agent = _agent(tmp_path, capsys, centre.config, [centre.url])
        try:
            wait(lambda: len(stored()) >= 4, 30, "the agent's first results")
            name = url.rsplit("/", 1)[1]
            end = time.monotonic() + 6
            while time.monotonic() < end:  # every session of the database, dropped ten times a second
                pgdb.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                           "AND pid <> pg_backend_pid()", (name,))  # fmt: skip
                time.sleep(0.1)
            settled = time.time()
            wait(lambda: max(stored(), default=0) >= len(stored()) and _pushed_after(engine, settled), 30,
                 "results measured after the database settled")  # fmt: skip
            seqs = stored()
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, nothing twice
            assert centre.proc is not None and centre.proc.poll() is None
            text = centre.log.read_text()
            assert "terminating connection" in text or "server closed the connection" in text  # it hit
        finally:
            _stop(agent)
            centre.stop()
            engine.dispose()


def _pushed_after(engine: object, when: float) -> bool:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return bool(conn.exec_driver_sql("SELECT count(*) FROM agent_results WHERE ts > %s", (when + 2,)).scalar())
