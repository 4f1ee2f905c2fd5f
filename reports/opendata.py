"""The monthly per-zone dataset as open data (datos.gov.co), with its metadata.

Deterministic: the same figures give the same bytes (fixed column order, fixed decimals,
"." as decimal point, plain integers, UTF-8, "\\n" line ends), so re-rendering a closed month
reproduces the file exactly. No personal data: only counts per zone.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

from domain.vantage import measured_cause
from kernel.text import one_line
from reports.monthly import MonthFigures

COLUMNS = (
    "ANIO", "MES_NUM", "MES", "CODIGO_ZONA", "ZONA_WIFI", "BARRIO_CORREGIMIENTO", "UCG", "LOCALIDAD",
    "USUARIOS_UNICOS", "SESIONES", "DISPOSITIVOS_SMARTPHONE", "DISPOSITIVOS_TABLET", "DISPOSITIVOS_PC",
    "DISPOSITIVOS_OTRO", "TRAFICO_GB", "TIEMPO_PROMEDIO_MIN", "DISPONIBILIDAD_PCT", "LATITUD", "LONGITUD",
    # Appended (a reader keyed by header keeps working): the month's operating hours by the zone's
    # schedule, and the hours of them measured (out of maintenance and with data).
    "HORAS_PROGRAMADAS", "HORAS_MEDIDAS",
)  # fmt: skip
MONTHS_ES = ("ENERO", "FEBRERO", "MARZO", "ABRIL", "MAYO", "JUNIO", "JULIO", "AGOSTO", "SEPTIEMBRE",
             "OCTUBRE", "NOVIEMBRE", "DICIEMBRE")  # fmt: skip


# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """Inventory text as data, never a formula: a leading ' makes a spreadsheet show it as typed.
    Control characters become spaces first: the writer quotes no lone CR, which split a row and
    began the next line with an unneutralised ``=1+3``."""
    value = one_line(value)
    return "'" + value if value.lstrip().startswith(_FORMULA_START) else value


def _int(value: int | float | None) -> str:
    return "" if value is None else str(int(value))


def _fixed(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def csv_bytes(figures: MonthFigures) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for z in sorted(figures.zones, key=lambda r: r.zone.id):
        u, a = z.usage, z.availability
        writer.writerow(
            [
                figures.year,
                figures.month,
                MONTHS_ES[figures.month - 1],
                text_cell(z.zone.id),
                text_cell(z.zone.name),
                text_cell(z.zone.barrio),
                _int(z.zone.ucg),
                text_cell(z.zone.localidad),
                _int(u.unique_users),
                _int(u.sessions),
                _int(u.devices.get("smartphone")),
                _int(u.devices.get("tablet")),
                _int(u.devices.get("pc")),
                _int(u.devices.get("other")),
                _fixed(z.traffic_gb, 3),
                _fixed(z.average_session_minutes, 1),
                _fixed(None if a.availability is None else a.availability * 100, 2),
                f"{z.zone.lat:.5f}",
                f"{z.zone.lon:.5f}",
                _fixed(a.operating_seconds / 3600, 2),
                _fixed(a.measured_seconds / 3600, 2),
            ]
        )
    return out.getvalue().encode("utf-8")


OUTAGE_COLUMNS = ("ANIO", "MES_NUM", "CODIGO_ZONA", "INICIO", "FIN", "MINUTOS", "CAUSA", "ORIGEN_CAUSA")
# How an outage's cause was known: an operator's incident, the zone's agent, or the reason code.
_ORIGIN = {"operator": "operador", "agent": "agente", "code": "codigo", "correction": "correccion"}
_CAUSE_WORDS = {"unrecorded": "sin_registrar"}  # the rest are Spanish keys already (domain.incidents)


def outages_csv(figures: MonthFigures, classes: dict[str, str] | None = None) -> bytes:
    """The month's outages (down periods within the month), one row each, with the cause they
    count under in the report and how it was known: the open data of the report's cause table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTAGE_COLUMNS)
    for i in figures.incidents(classes):
        if i.classification != "unplanned":
            continue
        if i.note is not None:  # an annotation after the fact is a note too (domain.corrections.as_note)
            origin = "correction" if i.note.id < 0 else "operator"
        else:
            origin = "agent" if measured_cause(i.reason) else "code"
        writer.writerow([
            figures.year, figures.month, text_cell(i.zone), i.start.isoformat(timespec="seconds"),
            "" if i.end is None else i.end.isoformat(timespec="seconds"), _fixed(i.seconds / 60, 1),
            _CAUSE_WORDS.get(i.cause, i.cause), _ORIGIN[origin],
        ])  # fmt: skip
    return out.getvalue().encode("utf-8")


def corrections(figures: MonthFigures) -> list[dict[str, object]]:
    """The month's corrections after the fact, as the metadata lists them (Spanish keys, UTC times)."""

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    out: list[dict[str, object]] = [
        {"id": c.name, "zona": c.target, "inicio": iso(c.start), "fin": iso(c.end),
         "accion": "excluir" if c.action == "exclude" else "anotar", "causa": c.cause, "motivo": c.text,
         "medido": c.measured, "por": c.created_by, "fecha": iso(c.created_at)}
        for c in figures.corrections
    ]  # fmt: skip
    out += [
        {"id": w.name, "zona": ",".join(w.zones + w.targets), "inicio": iso(w.start), "fin": iso(w.end),
         "accion": "mantenimiento_posterior", "causa": "", "motivo": w.reason, "medido": "", "por": w.created_by,
         "fecha": iso(w.created_at)}
        for w in figures.late_windows
    ]  # fmt: skip
    return out


CORRECTION_COLUMNS = ("ID", "ZONA", "INICIO", "FIN", "ACCION", "CAUSA", "MOTIVO", "MEDIDO", "POR", "FECHA")


def corrections_csv(figures: MonthFigures) -> bytes:
    """The month's corrections after the fact, one row each (as the metadata lists them): the file a
    month closed again with a correction carries, and its manifest names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CORRECTION_COLUMNS)
    for c in corrections(figures):
        writer.writerow([text_cell(str(c[k])) for k in ("id", "zona", "inicio", "fin", "accion", "causa", "motivo",
                                                          "medido", "por", "fecha")])  # fmt: skip
    return out.getvalue().encode("utf-8")


def metadata(figures: MonthFigures, *, entity: str, contact: str, issued: date, updated: date) -> bytes:
    """The dataset's metadata in the fields datos.gov.co asks for (Spanish, as published)."""
    meta = {
        "titulo": "Uso de las Zonas Digitales (WiFi público) por zona y mes",
        "descripcion": (
            "Usuarios únicos, sesiones, dispositivos por tipo, tráfico, tiempo promedio de sesión y "
            "disponibilidad de cada zona WiFi pública, por mes. Sin datos personales."
        ),
        "entidad": entity,
        "sector": "Tecnologías de la información y las comunicaciones",
        "frecuencia_actualizacion": "Mensual",
        "cobertura_geografica": "Distrito de Cartagena de Indias",
        "cobertura_temporal": f"{figures.year:04d}-{figures.month:02d}",
        "idioma": "Español",
        "licencia": "Creative Commons Atribución 4.0 Internacional (CC BY 4.0)",
        "contacto": contact,
        "fecha_emision": issued.isoformat(),
        "fecha_actualizacion": updated.isoformat(),
        "columnas": list(COLUMNS),
        "recursos_relacionados": {
            "caidas": {
                "descripcion": "Cada caída de una zona en el mes, con su causa y cómo se conoció (incidente del "
                "operador, medición del agente de la zona o código de motivo).",
                "columnas": list(OUTAGE_COLUMNS),
            }
        },
        # Every correction made after the fact to the month's figures: who, when and why.
        "correcciones": corrections(figures),
    }
    return (json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
