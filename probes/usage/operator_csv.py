"""Operator monthly usage CSV, in the district's open-data schema.

Columns (datos.gov.co, "dispositivos conectados por zona WiFi"):
``AÑO, MES, CORREGIMIENTO/BARRIO, ZONA WIFI, OTRO, SMARTPHONE, TABLET, PC``.

Real files have quirks this parser absorbs without guessing silently:
thousands dots in numbers and years ("18.352", "2.024"), Spanish month
names in any case, accents or their absence, spacing and spelling variants
of zone names (matched through normalised names, configured aliases, close
names and the barrio column: ZoneMatcher),
";", ",", tab or "|" delimiters (the header's), UTF-8 with or without BOM or
Windows-1252, LF, CRLF or CR line ends. Rows that cannot be matched to one
zone, and (zone, month) rows seen twice, are refused with their line numbers,
never dropped or added up in silence.

Everything else is read strictly, since a misread row becomes a wrong figure in
an official report: each physical line is one row (a stray quote must not swallow
the lines after it, which once turned a zone's 19,878 devices into 0); a row with
more or fewer cells than the header, a control character, or a count no zone
could reach is refused with its line; an unknown or repeated header column, or a
byte neither UTF-8 nor Windows-1252 can read, refuses the whole file.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from kernel.errors import InputError
from kernel.text import controls, escape_char

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
    matched: str = "name"  # how the row's zone was found (Match.describe)

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


class CsvFormatError(InputError):
    """The file is not an operator CSV vigia can read whole (columns, encoding): refused whole."""


# More devices than this in one zone and month is no count (the busiest zone sees about 20,000); a
# 26-digit number would also overflow the store's integer column.
MAX_COUNT = 10_000_000


def parse_count(text: str) -> int:
    """ "18.352" -> 18352; "1 204" -> 1204; "" -> 0. Refuses decimals, negatives and absurd numbers."""
    value = text.strip().replace("\u00a0", "").replace(" ", "")
    if value in ("", "-"):
        return 0
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", value) or re.fullmatch(r"\d{1,3}(,\d{3})+", value):
        value = value.replace(".", "").replace(",", "")
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{text.strip()!r} is not a whole number")
    if len(value) > 12 or int(value) > MAX_COUNT:
        raise ValueError(f"{text.strip()[:20]!r} is more than {MAX_COUNT:,} devices: not a count")
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


def _decode(file: str, data: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (with or without BOM), else Windows-1252; a byte neither
    reads is refused with its line (guessing would put wrong letters in zone names)."""
    encodings: tuple[str, ...] = ("utf-8", "cp1252")
    if data.startswith(b"\xef\xbb\xbf"):
        data, encodings = data[3:], ("utf-8-sig",)
    for encoding in encodings:
        try:
            return data.decode(encoding.removesuffix("-sig")), encoding
        except UnicodeDecodeError as exc:
            bad = exc
    line = len(_LINE_END.findall(data[: bad.start].decode("latin-1"))) + 1
    names = " nor ".join("UTF-8" if e.startswith("utf") else "Windows-1252" for e in encodings)
    raise CsvFormatError(f"{file}: line {line}: byte 0x{data[bad.start]:02x} is neither {names}")


_LINE_END = re.compile(r"\r\n|\r|\n")
DELIMITERS = (";", ",", "\t", "|")


# A name is "close" to a zone's when difflib's similarity of their identifying parts reaches CLOSE
# (a typo, a dropped word), and it is taken only when no other zone comes within MARGIN of it.
CLOSE, MARGIN = 0.8, 0.1


@dataclass(frozen=True)
class Match:
    """A row's zone, and how it was found: name, alias, name and barrio, close name (with its
    similarity), or barrio."""

    zone: str
    how: str
    score: float = 1.0

    def describe(self) -> str:
        return f"close name {self.score:.2f}" if self.how == "close name" else self.how


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


class ZoneMatcher:
    """Maps an operator's zone name (and barrio) to one configured zone, or says why not.

    In order: the exact normalised name or alias (the barrio decides between namesakes); unless
    ``strict``, a close name (the barrio, when both sides have one, must agree); then the barrio,
    when it has exactly one zone and the row's name says nothing against it (no word at all, or a
    word of that zone's names). Anything else is refused with the candidates named: a wrong zone
    would move citizens' devices from one zone's figures to another's."""

    def __init__(self, zones: Iterable[ZoneRef], *, strict: bool = False) -> None:
        self.strict = strict
        self._by_key: dict[str, dict[str, str]] = {}
        self._keys: dict[str, set[str]] = {}
        self._barrio: dict[str, str] = {}
        for z in zones:
            self._barrio[z.id] = normalise(z.barrio)
            for name, how in ((z.name, "name"), *((a, "alias") for a in z.aliases)):
                for key in {normalise(name), zone_key(name)}:
                    if key:
                        self._by_key.setdefault(key, {}).setdefault(z.id, how)
                if zone_key(name):
                    self._keys.setdefault(z.id, set()).add(zone_key(name))

    def match(self, name: str, barrio: str) -> Match | str:
        """The match, or why there is none (naming the candidates)."""
        where = normalise(barrio)
        for key in (normalise(name), zone_key(name)):
            found = self._by_key.get(key, {})
            if len(found) == 1:
                zone, how = next(iter(found.items()))
                return Match(zone, how)
            if len(found) > 1:
                # Same name in two barrios: the barrio column decides.
                by_barrio = [z for z in found if self._barrio.get(z) == where]
                if len(by_barrio) == 1:
                    return Match(by_barrio[0], "name and barrio")
                return f"matches several zones: {', '.join(sorted(found))}"
        if self.strict:
            return "matches no configured zone or alias (--strict: exact names only)"
        return self._close(zone_key(name), where)

    def _close(self, key: str, where: str) -> Match | str:
        if key:
            scores = sorted(((max(_similar(key, k) for k in keys), z) for z, keys in self._keys.items()), reverse=True)
            if scores and scores[0][0] >= CLOSE:
                best_score, best = scores[0]
                rivals = [(s, z) for s, z in scores[1:] if s > best_score - MARGIN]
                if rivals:
                    named = ", ".join(f"{z} ({s:.2f})" for s, z in [(best_score, best), *rivals])
                    return f"is close to several zones: {named}"
                theirs = self._barrio[best]
                if where and theirs and _similar(where, theirs) < CLOSE:
                    return f"is close to {best} ({best_score:.2f}) but its barrio is not {best}'s"
                return Match(best, "close name", round(best_score, 2))
        in_barrio = sorted(z for z, b in self._barrio.items() if where and b == where)
        if len(in_barrio) > 1:
            return f"matches no zone name, and its barrio has several zones: {', '.join(in_barrio)}"
        if len(in_barrio) == 1:
            zone = in_barrio[0]
            words = key.split()
            their_words = {w for k in self._keys.get(zone, ()) for w in k.split()}
            if not words or any(_similar(w, t) >= CLOSE for w in words for t in their_words):
                return Match(zone, "barrio")
            return f"matches no zone name; its barrio is {zone}'s, but no word of its name is"
        return "matches no configured zone or alias"


def parse(file: str, data: bytes, zones: Iterable[ZoneRef], *, strict: bool = False) -> ImportResult:
    """Every row of the file, accepted or refused with its line; CsvFormatError when the file
    cannot be read as an operator CSV at all."""
    text, encoding = _decode(file, data)
    result = ImportResult(file, encoding)
    lines = _LINE_END.split(text)
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise CsvFormatError(f"{file}: empty file")
    header_line = lines[header_at]
    delimiter = max(DELIMITERS, key=header_line.count)
    try:
        header = _cells(header_line, delimiter)
    except ValueError as exc:
        raise CsvFormatError(f"{file}: line {header_at + 1}: {exc}") from None
    columns = _columns(f"{file}: line {header_at + 1}", header)
    matcher = ZoneMatcher(zones, strict=strict)
    seen: dict[tuple[str, int, int], int] = {}
    for number, raw in enumerate(lines[header_at + 1 :], header_at + 2):
        if not raw.strip():
            continue
        try:
            row = _cells(raw, delimiter)
            if len(row) != len(header):
                raise ValueError(f"has {len(row)} cells; the header has {len(header)}")
            cells = {key: row[index] for key, index in columns.items()}
            year = parse_year(cells["year"])
            month = parse_month(cells["month"])
            counts = {k: parse_count(cells[k]) for k in DEVICE_COLUMNS}
        except ValueError as exc:
            result.refused.append(Refusal(number, str(exc), raw))
            continue
        matched = matcher.match(cells["zone"], cells["barrio"])
        if isinstance(matched, str):
            what = f"zone {cells['zone'].strip()!r} (barrio {cells['barrio'].strip()!r})"
            result.refused.append(Refusal(number, f"{what} {matched}", raw))
            continue
        found = matched.zone
        key = (found, year, month)
        if key in seen:
            why = f"duplicate of line {seen[key]} for {found} {year}-{month:02d}: not counted twice"
            result.refused.append(Refusal(number, why, raw))
            continue
        seen[key] = number
        result.accepted.append(
            OperatorMonth(
                found, year, month, counts["smartphone"], counts["tablet"], counts["pc"], counts["other"],
                number, matched.describe(),
            )
        )  # fmt: skip
    return result


def _cells(line: str, delimiter: str) -> list[str]:
    """One physical line as cells (quotes as spreadsheets write them, never across lines);
    ValueError for a quote left open or a control character."""
    found = controls(line.replace("\t", " ") if delimiter == "\t" else line)
    if found:
        at, char = found[0]
        raise ValueError(f"a control character ({escape_char(char)}) at character {at}")
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise ValueError(f"malformed quoting ({exc}): a quote left open or a stray quote") from None


def _columns(where: str, header: list[str]) -> dict[str, int]:
    """Each canonical column's index; CsvFormatError for a column missing, unknown or repeated
    (a second SMARTPHONE column would be read or ignored at random)."""
    spelling = {s: key for key, spellings in COLUMNS.items() for s in spellings}
    out: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = spelling.get(normalise(cell))
        if key is None:
            raise CsvFormatError(f"{where}: unknown column {cell.strip()!r} (column {i + 1}); expected {EXPECTED}")
        if key in out:
            raise CsvFormatError(
                f"{where}: column {cell.strip()!r} (column {i + 1}) repeats column {out[key] + 1}; expected {EXPECTED}"
            )
        out[key] = i
    missing = [k for k in COLUMNS if k not in out]
    if missing:
        raise CsvFormatError(f"{where}: missing column(s) {', '.join(missing)}; expected {EXPECTED}")
    return out


EXPECTED = "AÑO, MES, CORREGIMIENTO/BARRIO, ZONA WIFI, OTRO, SMARTPHONE, TABLET, PC"
