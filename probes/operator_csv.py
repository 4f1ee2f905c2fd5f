"""Operator monthly usage CSV, in the district's open-data schema.

Columns (datos.gov.co, "dispositivos conectados por zona WiFi"):
``AÑO, MES, CORREGIMIENTO/BARRIO, ZONA WIFI, OTRO, SMARTPHONE, TABLET, PC``.

Real files have quirks this parser absorbs without guessing silently:
thousands dots in numbers and years ("18.352", "2.024"), Spanish month
names in any case, accents or their absence, spacing and spelling variants
of zone names (matched through normalised names and configured aliases),
";" or "," delimiters, UTF-8 with or without BOM or Windows-1252. Rows that
cannot be matched to one zone, and (zone, month) rows seen twice, are
refused with their line numbers, never dropped or added up in silence.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

MONTHS = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "ene": 1, "feb": 2, "mar": 3, "abr": 4, "may": 5, "jun": 6, "jul": 7, "ago": 8,
    "sep": 9, "sept": 9, "set": 9, "oct": 10, "nov": 11, "dic": 12,
}  # fmt: skip

# Canonical column -> accepted normalised header spellings.
COLUMNS = {
    "year": ("ano", "anio", "year"),
    "month": ("mes", "month"),
    "barrio": ("corregimiento/barrio", "corregimiento barrio", "barrio/corregimiento", "barrio", "corregimiento"),
    "zone": ("zona wifi", "zona wi-fi", "zona", "zona digital", "nombre zona"),
    "other": ("otro", "otros"),
    "smartphone": ("smartphone", "smartphones", "celular"),
    "tablet": ("tablet", "tablets"),
    "pc": ("pc", "computador", "portatil", "pcs"),
}
DEVICE_COLUMNS = ("smartphone", "tablet", "pc", "other")
# Words operators add around zone names that say nothing about which zone it is.
_FILLER = re.compile(r"\b(zona(s)?( digital(es)?)?|wi ?fi|ctg|cartagena|de|del|la|el|los|las)\b")


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation to spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = re.sub(r"[^a-z0-9/]+", " ", plain)
    return " ".join(plain.split())


def zone_key(name: str) -> str:
    """The part of a zone name that identifies it (fillers removed)."""
    key = _FILLER.sub(" ", normalise(name).replace("/", " "))
    return " ".join(key.split())


@dataclass(frozen=True)
class ZoneRef:
    """What the matcher knows of a zone: its id, names it goes by, and its barrio."""

    id: str
    name: str
    barrio: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperatorMonth:
    zone: str
    year: int
    month: int
    smartphone: int
    tablet: int
    pc: int
    other: int
    line: int

    @property
    def devices(self) -> int:
        return self.smartphone + self.tablet + self.pc + self.other


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str
    row: str


@dataclass
class ImportResult:
    file: str
    encoding: str
    accepted: list[OperatorMonth] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


class CsvFormatError(ValueError):
    """The file is not an operator CSV at all (missing columns, unreadable)."""


def parse_count(text: str) -> int:
    """ "18.352" -> 18352; "1 204" -> 1204; "" -> 0. Refuses decimals and negatives."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    if value in ("", "-"):
        return 0
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", value) or re.fullmatch(r"\d{1,3}(,\d{3})+", value):
        value = value.replace(".", "").replace(",", "")
    if not value.isdigit():
        raise ValueError(f"{text.strip()!r} is not a whole number")
    return int(value)


def parse_year(text: str) -> int:
    year = parse_count(text)
    if not 2000 <= year <= 2100:
        raise ValueError(f"{text.strip()!r} is not a year")
    return year


def parse_month(text: str) -> int:
    key = normalise(text).rstrip(".")
    if key.isdigit() and 1 <= int(key) <= 12:
        return int(key)
    if key in MONTHS:
        return MONTHS[key]
    raise ValueError(f"{text.strip()!r} is not a month")


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252"), "cp1252"


class ZoneMatcher:
    """Maps an operator's zone name (and barrio) to one configured zone, or says why not."""

    def __init__(self, zones: Iterable[ZoneRef]) -> None:
        self._by_key: dict[str, set[str]] = {}
        self._barrio: dict[str, str] = {}
        for z in zones:
            self._barrio[z.id] = normalise(z.barrio)
            for name in (z.name, *z.aliases):
                for key in {normalise(name), zone_key(name)}:
                    if key:
                        self._by_key.setdefault(key, set()).add(z.id)

    def match(self, name: str, barrio: str) -> str | list[str]:
        """The zone id, or the list of candidates (empty: none) when there is no single match."""
        for key in (normalise(name), zone_key(name)):
            found = self._by_key.get(key, set())
            if len(found) == 1:
                return next(iter(found))
            if len(found) > 1:
                # Same name in two barrios: the barrio column decides.
                by_barrio = [z for z in found if self._barrio.get(z) == normalise(barrio)]
                return by_barrio[0] if len(by_barrio) == 1 else sorted(found)
        return []


def parse(file: str, data: bytes, zones: Iterable[ZoneRef]) -> ImportResult:
    text, encoding = _decode(data)
    result = ImportResult(file, encoding)
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFormatError(f"{file}: empty file") from None
    columns = _columns(file, header)
    matcher = ZoneMatcher(zones)
    seen: dict[tuple[str, int, int], int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        raw = (dialect.delimiter if isinstance(dialect, csv.Dialect) else ",").join(row)
        try:
            cells = {key: row[index] if index < len(row) else "" for key, index in columns.items()}
            year = parse_year(cells["year"])
            month = parse_month(cells["month"])
            counts = {k: parse_count(cells[k]) for k in DEVICE_COLUMNS}
        except ValueError as exc:
            result.refused.append(Refusal(line, str(exc), raw))
            continue
        found = matcher.match(cells["zone"], cells["barrio"])
        if isinstance(found, list):
            what = f"zone {cells['zone'].strip()!r} (barrio {cells['barrio'].strip()!r})"
            reason = (
                f"{what} matches several zones: {', '.join(found)}"
                if found
                else f"{what} matches no configured zone or alias"
            )
            result.refused.append(Refusal(line, reason, raw))
            continue
        key = (found, year, month)
        if key in seen:
            result.refused.append(
                Refusal(line, f"duplicate of line {seen[key]} for {found} {year}-{month:02d}: not counted twice", raw)
            )
            continue
        seen[key] = line
        result.accepted.append(
            OperatorMonth(
                found, year, month, counts["smartphone"], counts["tablet"], counts["pc"], counts["other"], line
            )
        )
    return result


def _columns(file: str, header: list[str]) -> dict[str, int]:
    names = [normalise(h) for h in header]
    out: dict[str, int] = {}
    for key, spellings in COLUMNS.items():
        for i, name in enumerate(names):
            if name in spellings:
                out[key] = i
                break
    missing = [k for k in COLUMNS if k not in out]
    if missing:
        raise CsvFormatError(
            f"{file}: line 1: missing column(s) {', '.join(missing)}; expected "
            "AÑO, MES, CORREGIMIENTO/BARRIO, ZONA WIFI, OTRO, SMARTPHONE, TABLET, PC"
        )
    return out
