"""An HA pair's month on the real PostgreSQL server: two instances of one ha_group measure the
same zones from two places, and the report counts a zone down only while every member measuring
it said down, and no data only while none measured it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import config as cfg
from kernel.month import Month
from monitor.jobs import monthclose
from reports.monthly import month_figures
from store.db import StateChange, Store, ZoneSample
from store.lease import Identity, Lease
from tests import pgdb
from tests.reports.test_opendata import BOGOTA, t

STEP = 300.0  # one zone sample every 5 minutes
DAY = (t("2025-01-10 00:00"), t("2025-01-11 00:00"))


def samples(member: str, zone: str, gaps: list[tuple[str, str]]) -> list[ZoneSample]:
    """The zone measured all day by ``member``, except in ``gaps`` (local times that day)."""
    holes = [(t(f"2025-01-10 {a}"), t(f"2025-01-10 {b}")) for a, b in gaps]
    out, ts = [], DAY[0]
    while ts < DAY[1]:
        if not any(a <= ts < b for a, b in holes):
            out.append(ZoneSample(zone, ts, STEP, "up", "ok", True, 0.0, 0.002, "{}"))
        ts += STEP
    return out


def down(zone: str, a: str, b: str) -> list[StateChange]:
    start, end = t(f"2025-01-10 {a}"), t(f"2025-01-10 {b}")
    return [StateChange(zone, "up", "down", start, start, "gateway_timeout"), StateChange(zone, "down", "up", end, end)]


CONFIG = """instance: {instance}
ha_group: cdc
zones:
  - {{id: ZD-01, name: Zona 1, lat: 10.4, lon: -75.5}}
  - {{id: ZD-02, name: Zona 2, lat: 10.4, lon: -75.5}}
  - {{id: ZD-03, name: Zona 3, lat: 10.4, lon: -75.5}}
  - {{id: ZD-04, name: Zona 4, lat: 10.4, lon: -75.5}}
"""


def test_a_zone_one_member_lost_is_not_down(tmp_path: Path) -> None:
    with pgdb.database() as url:
        a, b = Store(url, "site-a"), Store(url, "site-b")
        a.migrate()
        try:
            for s in (a, b):  # each member's lease keeper records it in the group
                Lease(s.engine, Identity.mine(s.instance, "cdc", "test"), advisory=False).tick()
            # ZD-01: site-a's path to it is cut 10:00-12:00; site-b sees it up: not down.
            # ZD-02: both see it down 14:00-15:00: down one hour.
            # ZD-03: site-a measured nothing 08:00-09:00, site-b saw it down then: down one hour.
            # ZD-04: neither measured it 16:00-17:00: no data, not down.
            a.write_cycle(
                [], down("ZD-01", "10:00", "12:00") + down("ZD-02", "14:00", "15:00"), 0.0,
                samples("site-a", "ZD-01", []) + samples("site-a", "ZD-02", [])
                + samples("site-a", "ZD-03", [("08:00", "09:00")]) + samples("site-a", "ZD-04", [("16:00", "17:00")]),
            )  # fmt: skip
            b.write_cycle(
                [], down("ZD-02", "14:00", "15:00") + down("ZD-03", "08:00", "09:00"), 0.0,
                samples("site-b", "ZD-01", []) + samples("site-b", "ZD-02", [])
                + samples("site-b", "ZD-03", []) + samples("site-b", "ZD-04", [("16:00", "17:00")]),
            )  # fmt: skip
            (tmp_path / "a.yml").write_text(CONFIG.format(instance="site-a"))
            conf = cfg.parse(str(tmp_path / "a.yml"), state_dir=str(tmp_path))
            now = t("2025-03-01 00:00")
            group = {
                z.zone.id: z.availability
                for z in month_figures(a.reader("cdc"), conf.zones, 2025, 1, BOGOTA, now).zones
            }
            alone = {
                z.zone.id: z.availability for z in month_figures(a.reader(), conf.zones, 2025, 1, BOGOTA, now).zones
            }
        finally:
            a.close()
            b.close()
        day = DAY[1] - DAY[0]
        assert alone["ZD-01"].downtime_seconds == 7200  # site-a alone would report the cut
        assert group["ZD-01"].downtime_seconds == 0 and group["ZD-01"].measured_seconds == day
        assert group["ZD-02"].downtime_seconds == 3600 and group["ZD-02"].incidents == 1
        assert group["ZD-03"].downtime_seconds == 3600 and group["ZD-03"].measured_seconds == day
        assert group["ZD-04"].downtime_seconds == 0 and group["ZD-04"].measured_seconds == day - 3600
        # The month close of the group (one service, as the daemon's child runs it) says the same.
        (tmp_path / "url").write_text(url)
        (tmp_path / "a.yml").write_text(
            CONFIG.format(instance="site-a") + f"store: {{url_file: {tmp_path / 'url'}}}\nstate_dir: {tmp_path}\n"
        )
        conf = cfg.parse(str(tmp_path / "a.yml"))
        written = monthclose.close(conf, monthclose.Request(Month(2025, 1), formats=["csv"], languages=["es"]))
        [table] = [p for p in written if p.name.startswith("zonas-digitales-") and p.suffix == ".csv"]
        rows = {r["CODIGO_ZONA"]: r for r in csv.DictReader(io.StringIO(table.read_text(encoding="utf-8-sig")))}
        assert set(rows) == {"ZD-01", "ZD-02", "ZD-03", "ZD-04"}
        assert float(rows["ZD-01"]["DISPONIBILIDAD_PCT"]) == 100.0
        assert abs(float(rows["ZD-02"]["DISPONIBILIDAD_PCT"]) - 100 * 23 / 24) < 0.01
