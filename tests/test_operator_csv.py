"""Operator monthly CSV: every real-world quirk, line numbers for what is refused, nothing double counted."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from probes.usage.operator_csv import CsvFormatError, ZoneRef, parse, parse_count, parse_month, parse_year

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
    with pytest.raises(CsvFormatError, match=re.escape("line 1: unknown column 'fecha' (column 1)")):
        parse("x.csv", b"fecha,valor\n2024-01-01,3\n", ZONES)
    with pytest.raises(CsvFormatError, match=re.escape("line 1: missing column(s) pc")):
        parse("x.csv", "AÑO;MES;BARRIO;ZONA WIFI;OTRO;SMARTPHONE;TABLET\n".encode(), ZONES)


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


def config_of(tmp_path: Path) -> Path:
    conf = tmp_path / "c.yml"
    zones = "\n".join(
        f"  - {{id: {z.id}, name: '{z.name}', barrio: '{z.barrio}', lat: 10.4, lon: -75.5, aliases: {list(z.aliases)}}}"
        for z in ZONES
    )
    conf.write_text(f"state_dir: {tmp_path}/state\nzones:\n{zones}\n")
    return conf


def stored_rows(tmp_path: Path) -> list[tuple[object, ...]]:
    path = tmp_path / "state" / "vigia.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        if not db.execute("select 1 from sqlite_master where name = 'operator_usage'").fetchall():
            return []
        return db.execute(
            "select zone, year, month, smartphone, tablet, pc, other, source_line from operator_usage "
            "order by year, month, source_line"
        ).fetchall()
    finally:
        db.close()


def test_cli_refuses_a_file_with_bad_rows_unless_told_to_skip_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = config_of(tmp_path)
    assert main(["import", "operator-csv", "--config", str(conf), str(DATA)]) == 2
    captured = capsys.readouterr()
    assert "7 could be imported, but nothing was stored, 4 refused" in captured.out
    assert "  line 8: REFUSED: zone 'Parque de Marbella' (barrio 'Marbella') matches no configured zone or alias" in (
        captured.out.splitlines()
    )
    assert "nothing from the file was stored" in captured.err and "--skip-bad-rows" in captured.err
    assert stored_rows(tmp_path) == []
    argv = ["import", "operator-csv", "--skip-bad-rows", "--config", str(conf), str(DATA)]
    assert main(argv) == 3
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"{DATA}: 11 rows (utf-8): 7 imported (7 new, 0 replacing an earlier import), 4 skipped (--skip-bad-rows)"
    )
    assert (
        "  line 2: ZD-01 2024-01: 18352 smartphone, 1204 tablet, 310 pc, 12 otro (19878 dispositivos), by name" in out
    )
    assert any(line.startswith("  line 10: ZD-04 2024-01:") and line.endswith("by alias") for line in out)
    assert "  line 8: SKIPPED: zone 'Parque de Marbella' (barrio 'Marbella') matches no configured zone or alias" in out
    assert stored_rows(tmp_path) == [(z, y, m, s, t, p, o, ln) for z, y, m, s, t, p, o, ln in EXPECTED_ACCEPTED]
    assert main(argv) == 3
    assert "7 imported (0 new, 7 replacing an earlier import)" in capsys.readouterr().out
    assert len(stored_rows(tmp_path)) == 7


def import_bytes(tmp_path: Path, data: bytes, *flags: str) -> int:
    """`vigia import operator-csv` of ``data`` as a file, against the test zones; its exit code."""
    conf, csv = config_of(tmp_path), tmp_path / "operador.csv"
    csv.write_bytes(data)
    return main(["import", "operator-csv", *flags, "--config", str(conf), str(csv)])


GOOD_ROWS = (
    "AÑO;MES;CORREGIMIENTO/BARRIO;ZONA WIFI;OTRO;SMARTPHONE;TABLET;PC\n"
    "2024;ENERO;Centro;PLAZA DE LA ADUANA;12;18.352;1.204;310\n"
    "2024;ENERO;Getsemaní;Parque del Centenario;3;9.871;455;120\n"
)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        # A stray quote once swallowed the rest of the file into one cell: "ZD-01 2024-01: 0 dispositivos".
        (GOOD_ROWS.replace("2024;ENERO;Centro;PLAZA", '2024;ENERO;Centro;"PLAZA').encode(),
         "line 2: REFUSED: malformed quoting"),
        (GOOD_ROWS.replace(";310\n", ";310;7\n").encode(), "line 2: REFUSED: has 9 cells; the header has 8"),
        (GOOD_ROWS.replace(";1.204;310\n", ";1.204\n").encode(), "line 2: REFUSED: has 7 cells; the header has 8"),
        (GOOD_ROWS.replace("18.352", "12345678901234567890123456").encode(),
         "line 2: REFUSED: '12345678901234567890' is more than 10,000,000 devices"),
        (GOOD_ROWS.replace("Centro", "Cen\x1btro").encode(), "line 2: REFUSED: a control character (\\x1b)"),
    ],
)  # fmt: skip
def test_a_row_that_cannot_be_read_whole_is_refused_and_nothing_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, says: str
) -> None:
    assert import_bytes(tmp_path, data) == 2
    out = capsys.readouterr().out
    assert says in out, out
    assert "ZD-01 2024-01: 0 smartphone" not in out
    assert stored_rows(tmp_path) == []
    # What reads well is what the operator wrote: ZD-02's row, never a 0 for ZD-01.
    assert import_bytes(tmp_path, data, "--skip-bad-rows") == 3
    assert stored_rows(tmp_path) == [("ZD-02", 2024, 1, 9871, 455, 120, 3, 3)]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (GOOD_ROWS.replace("PC\n", "PC;SMARTPHONE\n").replace(";310\n", ";310;0\n").replace(";120\n", ";120;0\n"
                                                                                           ).encode(),
         "line 1: column 'SMARTPHONE' (column 9) repeats column 6"),
        (GOOD_ROWS.replace("PC\n", "PC;FECHA\n").encode(), "line 1: unknown column 'FECHA' (column 9)"),
        (GOOD_ROWS.encode("cp1252").replace(b"Getseman\xed", b"Getseman\x81"),  # 0x81: undefined in cp1252
         "line 3: byte 0x81 is neither UTF-8 nor Windows-1252"),
        (b"", "empty file"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_as_a_whole_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, says: str
) -> None:
    assert import_bytes(tmp_path, data, "--skip-bad-rows") == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err, err
    assert stored_rows(tmp_path) == []


def test_cr_line_ends_read_as_lines(tmp_path: Path) -> None:
    """Old spreadsheet exports end lines with CR alone: each is a row, with its own line number."""
    result = parse("mac.csv", GOOD_ROWS.replace("\n", "\r").encode(), ZONES)
    assert [(a.zone, a.devices, a.line) for a in result.accepted] == [("ZD-01", 19878, 2), ("ZD-02", 10449, 3)]
    crlf = parse("win.csv", GOOD_ROWS.replace("\n", "\r\n").encode("cp1252"), ZONES)
    assert [(a.zone, a.devices, a.line) for a in crlf.accepted] == [("ZD-01", 19878, 2), ("ZD-02", 10449, 3)]


def test_a_fifo_is_refused_without_waiting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    fifo = tmp_path / "operador.csv"
    os.mkfifo(fifo)
    assert main(["import", "operator-csv", "--config", str(config_of(tmp_path)), str(fifo)]) == 2
    assert "not a regular file (a FIFO)" in capsys.readouterr().err
