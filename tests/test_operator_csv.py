"""Operator monthly CSV: every real-world quirk, line numbers for what is refused, nothing double counted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from probes.operator_csv import CsvFormatError, ZoneRef, parse, parse_count, parse_month, parse_year

DATA = Path(__file__).parent / "data" / "operator-2024.csv"
ZONES = [
    ZoneRef("ZD-01", "Plaza de la Aduana", "Centro"),
    ZoneRef("ZD-02", "Parque del Centenario", "Getsemaní"),
    ZoneRef("ZD-03", "Parque Román", "Manga"),
    ZoneRef("ZD-04", "Inspección de Policía de Bocagrande", "Bocagrande", ("Zona Bocagrande",)),
    ZoneRef("ZD-08", "Zona WiFi CTG Bruselas", "Bruselas"),
    ZoneRef("ZD-09", "Inspección de Policía El Bosque", "El Bosque"),
]
EXPECTED_ACCEPTED = [
    ("ZD-01", 2024, 1, 18352, 1204, 310, 12, 2),
    ("ZD-02", 2024, 1, 9871, 455, 120, 3, 3),
    ("ZD-08", 2024, 1, 4002, 97, 15, 0, 4),
    ("ZD-09", 2024, 1, 2500, 40, 8, 1, 5),
    ("ZD-03", 2024, 1, 1100, 20, 5, 0, 6),
    ("ZD-04", 2024, 1, 3000, 50, 10, 2, 10),
    ("ZD-01", 2024, 2, 17001, 1100, 290, 10, 11),
]
EXPECTED_REFUSED = [
    (7, "duplicate of line 2 for ZD-01 2024-01: not counted twice"),
    (8, "zone 'Parque de Marbella' (barrio 'Marbella') matches no configured zone or alias"),
    (12, "'4x' is not a whole number"),
    (13, "'MES13' is not a month"),
]


def rows(result):
    return [(a.zone, a.year, a.month, a.smartphone, a.tablet, a.pc, a.other, a.line) for a in result.accepted]


def test_every_quirk() -> None:
    result = parse(str(DATA), DATA.read_bytes(), ZONES)
    assert result.encoding == "utf-8"
    assert rows(result) == EXPECTED_ACCEPTED
    assert [(x.line, x.reason) for x in result.refused] == EXPECTED_REFUSED


def test_windows_1252_and_commas_give_the_same_figures(tmp_path: Path) -> None:
    text = DATA.read_text(encoding="utf-8")
    # Commas as delimiter need the thousands-dot numbers quoted, as spreadsheets write them.
    lines = [",".join(f'"{c}"' if "." in c else c for c in line.split(";")) for line in text.splitlines()]
    data = ("\n".join(lines) + "\n").encode("cp1252")
    result = parse("x.csv", data, ZONES)
    assert result.encoding == "cp1252"
    assert rows(result) == EXPECTED_ACCEPTED
    assert [x.line for x in result.refused] == [7, 8, 12, 13]


def test_utf8_bom() -> None:
    result = parse("bom.csv", b"\xef\xbb\xbf" + DATA.read_bytes(), ZONES)
    assert rows(result) == EXPECTED_ACCEPTED


def test_ambiguous_name_is_decided_by_barrio_or_refused() -> None:
    zones = [ZoneRef("A", "Parque Central", "Centro"), ZoneRef("B", "Parque Central", "Manga")]
    data = (
        "AÑO;MES;BARRIO;ZONA WIFI;OTRO;SMARTPHONE;TABLET;PC\n2024;1;Manga;Parque Central;0;1;0;0\n"
        "2024;1;Crespo;Parque Central;0;1;0;0\n"
    )
    result = parse("a.csv", data.encode(), zones)
    assert [(a.zone, a.line) for a in result.accepted] == [("B", 2)]
    assert result.refused[0].reason == "zone 'Parque Central' (barrio 'Crespo') matches several zones: A, B"


# Near-namesakes in different barrios, as the district's zones are: two parks of San Pedro, two
# police inspections, two libraries, and a barrio with two zones.
NEIGHBOURS = [
    ZoneRef("ZD-10", "Parque de San Pedro", "San Pedro"),
    ZoneRef("ZD-11", "Parque San Pedro Mártir", "San Pedro Mártir"),
    ZoneRef("ZD-12", "Inspección de Policía de Olaya Herrera", "Olaya Herrera"),
    ZoneRef("ZD-13", "Inspección de Policía de Olaya", "Olaya"),
    ZoneRef("ZD-14", "Biblioteca Balbino Carreazo", "El Pozón"),
    ZoneRef("ZD-15", "Biblioteca Jorge Artel", "El Pozón"),
    ZoneRef("ZD-16", "Casa de la Cultura de Pasacaballos", "Pasacaballos"),
]


def match_rows(text: str, *, strict: bool = False) -> tuple[list[tuple[int, str, str]], dict[int, str]]:
    data = "AÑO;MES;BARRIO;ZONA WIFI;OTRO;SMARTPHONE;TABLET;PC\n" + text
    result = parse("n.csv", data.encode(), NEIGHBOURS, strict=strict)
    return [(a.line, a.zone, a.matched) for a in result.accepted], {r.line: r.reason for r in result.refused}


def test_close_names_and_barrios_match_what_a_person_would() -> None:
    accepted, refused = match_rows(
        "2025;8;San Pedro Mártir;Parque  San Pedro Martir;0;1;0;0\n"  # doubled space, accents: the name
        "2025;8;El Pozón;Biblioteca Balbino Carrazo;0;1;0;0\n"  # a typo: close to one library only
        "2025;8;Olaya Herrera;Inspección Olaya Herrera;0;1;0;0\n"  # a dropped word ("de Policía")
        "2025;8;Pasacaballos;Zona WiFi;0;1;0;0\n"  # the name says nothing; the barrio has one zone
        "2025;9;Pasacaballos;Casa Cultural;0;1;0;0\n"  # a word of the zone's name, and its barrio
    )
    assert accepted == [
        (2, "ZD-11", "name"),
        (3, "ZD-14", "close name 0.98"),
        (4, "ZD-12", "close name 0.86"),
        (5, "ZD-16", "barrio"),
        (6, "ZD-16", "barrio"),
    ]
    assert refused == {}


def test_never_a_wrong_zone() -> None:
    accepted, refused = match_rows(
        "2025;8;Olaya;Inspección de Policía Olaya Herreras;0;1;0;0\n"  # close to ZD-12, but Olaya is ZD-13's
        "2025;8;;Parque San Pedro Mar;0;1;0;0\n"  # close to both parks: neither is taken
        "2025;8;El Pozón;Biblioteca;0;1;0;0\n"  # the barrio has two zones, the name fits both
        "2025;8;Pasacaballos;Colegio Técnico;0;1;0;0\n"  # a zone vigia does not know, in a one-zone barrio
        "2025;8;Manga;Parque Román;0;1;0;0\n"  # nothing like it
    )
    assert accepted == []
    assert refused[2].endswith("is close to ZD-12 (0.98) but its barrio is not ZD-12's")
    assert "is close to several zones: ZD-11 (0.93), ZD-10 (0.89)" in refused[3]
    assert refused[4].endswith("its barrio has several zones: ZD-14, ZD-15")
    assert refused[5].endswith("its barrio is ZD-16's, but no word of its name is")
    assert refused[6].endswith("matches no configured zone or alias")


def test_strict_keeps_exact_names_only() -> None:
    accepted, refused = match_rows(
        "2025;8;El Pozón;Biblioteca Balbino Carrazo;0;1;0;0\n2025;8;Pasacaballos;Zona WiFi;0;1;0;0\n"
        "2025;8;San Pedro;PARQUE DE SAN PEDRO;0;1;0;0\n",
        strict=True,
    )
    assert accepted == [(4, "ZD-10", "name")]
    assert all("--strict" in refused[line] for line in (2, 3))


def test_not_an_operator_csv() -> None:
    with pytest.raises(CsvFormatError, match="line 1: missing column"):
        parse("x.csv", b"fecha,valor\n2024-01-01,3\n", ZONES)


@pytest.mark.parametrize(
    ("text", "value"), [("18.352", 18352), ("1.204.550", 1204550), ("310", 310), ("", 0), ("1 204", 1204)]
)
def test_counts(text: str, value: int) -> None:
    assert parse_count(text) == value


def test_years_and_months() -> None:
    assert parse_year("2.024") == 2024
    assert parse_month("SEPTIEMBRE") == parse_month("setiembre") == parse_month("Sept.") == 9
    for bad in ("18.35", "-3", "3,5"):
        with pytest.raises(ValueError):
            parse_count(bad)


def test_cli_imports_prints_and_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "c.yml"
    zones = "\n".join(
        f"  - {{id: {z.id}, name: '{z.name}', barrio: '{z.barrio}', lat: 10.4, lon: -75.5, aliases: {list(z.aliases)}}}"
        for z in ZONES
    )
    conf.write_text(f"state_dir: {tmp_path}/state\nzones:\n{zones}\n")
    assert main(["import", "operator-csv", "--config", str(conf), str(DATA)]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{DATA}: 11 rows (utf-8): 7 imported (7 new, 0 replacing an earlier import), 4 refused"
    assert (
        "  line 2: ZD-01 2024-01: 18352 smartphone, 1204 tablet, 310 pc, 12 otro (19878 dispositivos), by name" in out
    )
    assert any(line.startswith("  line 10: ZD-04 2024-01:") and line.endswith("by alias") for line in out)
    assert "  line 8: REFUSED: zone 'Parque de Marbella' (barrio 'Marbella') matches no configured zone or alias" in out
    db = sqlite3.connect(tmp_path / "state" / "vigia.db")
    stored = db.execute(
        "select zone, year, month, smartphone, tablet, pc, other, source_line from operator_usage "
        "order by year, month, source_line"
    ).fetchall()
    assert stored == [(z, y, m, s, t, p, o, ln) for z, y, m, s, t, p, o, ln in EXPECTED_ACCEPTED]
    assert main(["import", "operator-csv", "--config", str(conf), str(DATA)]) == 3
    assert "7 imported (0 new, 7 replacing an earlier import)" in capsys.readouterr().out
    assert db.execute("select count(*) from operator_usage").fetchone()[0] == 7
