"""The roll-up (`vigia report month --all-instances`) on the real PostgreSQL server: shards that
closed their month are put together as they froze it, with a table per instance; a shard that
did not close is named; zone ids two shards share stay apart."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import config as cfg
from kernel.month import Month
from monitor.cli import main
from monitor.jobs import monthclose
from store.db import Store
from tests import pgdb
from tests.reports.test_monthly_report import Cells
from tests.test_ha_report import down, samples

SHARDS = {"norte": ("ZD-01", "ZD-02"), "sur": ("ZD-01", "ZD-03")}


def shard_config(tmp: Path, name: str, zones: tuple[str, ...]) -> Path:
    lines = [f"instance: {name}", f"state_dir: {tmp / name}", f"store: {{url_file: {tmp / 'url'}}}", "zones:"]
    lines += [f"  - {{id: {z}, name: {name} {z}, lat: 10.4, lon: -75.5}}" for z in zones]
    path = tmp / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_of(path: Path) -> dict[str, dict[str, str]]:
    return {r["CODIGO_ZONA"]: r for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))}


def test_every_closed_instance_in_one_report(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pgdb.database() as url:
        (tmp_path / "url").write_text(url)
        own: dict[str, dict[str, dict[str, str]]] = {}
        for name, zones in SHARDS.items():
            store = Store(url, name)
            store.migrate()
            store.start_run("host", "test", 0.0)
            changes = down(zones[0], "10:00", "10:30" if name == "norte" else "12:00")
            store.write_cycle([], changes, 0.0, [s for z in zones for s in samples(name, z, [])])
            store.close()
            conf = cfg.parse(str(shard_config(tmp_path, name, zones)))
            written = monthclose.close(conf, monthclose.Request(Month(2025, 1), formats=["csv"], languages=["es"]))
            own[name] = rows_of(
                next(p for p in written if p.name.startswith("zonas-digitales-") and p.suffix == ".csv")
            )
        late = Store(url, "este")  # ran, but never closed January
        late.migrate()
        late.start_run("host", "test", 0.0)
        late.close()
        config = tmp_path / "norte.yml"
        argv = ["report", "month", "--config", str(config), "--month", "2025-01", "--all-instances"]
        assert main([*argv, "--format", "csv,html", "--lang", "es"]) == 0
    written = [Path(p) for p in capsys.readouterr().out.split()]
    assert {p.parent.name for p in written} == {"todas"}
    rolled = rows_of(next(p for p in written if p.name.startswith("zonas-digitales-") and p.suffix == ".csv"))
    assert set(rolled) == {"norte:ZD-01", "sur:ZD-01", "ZD-02", "ZD-03"}
    for key, (name, zone) in {"norte:ZD-01": ("norte", "ZD-01"), "sur:ZD-01": ("sur", "ZD-01"),
                              "ZD-02": ("norte", "ZD-02"), "ZD-03": ("sur", "ZD-03")}.items():  # fmt: skip
        assert rolled[key]["DISPONIBILIDAD_PCT"] == own[name][zone]["DISPONIBILIDAD_PCT"]
    assert rolled["norte:ZD-01"]["DISPONIBILIDAD_PCT"] != rolled["sur:ZD-01"]["DISPONIBILIDAD_PCT"]
    page = Cells()
    page.feed(next(p for p in written if p.name.endswith(".es.html")).read_text())
    text = " | ".join(page.text)
    assert "Totales por instancia de vigia" in text
    assert "norte | 2 |" in text and "sur | 2 |" in text
    assert "Instancias que no habían cerrado este mes, no incluidas: este" in text
    assert (written[0].parent / "MANIFEST.sha256").exists()
