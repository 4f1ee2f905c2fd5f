"""The Grafana dashboards of vigia, as code: ``python deploy/grafana/dashboards.py`` writes
deploy/grafana/dashboards/*.json (committed; a test fails when they differ from this file).

Four dashboards, titles and panel texts in Spanish for the NOC: overview (zones up N/32, a
Geomap of the zones coloured by state, data-centre status, drills, certificates, findings,
vigia's own health), zone detail, data centre, continuity. Every query here is run by
tests/test_operations.py against a real Prometheus scraping a lab vigia and must return data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39


# 2 up, 1 degraded, 0 down / unknown / maintenance / no data: one number per zone to colour the map.
def zone_state(match: str = "") -> str:
    sel = f",{match}" if match else ""
    return (
        f'2 * sum by (zone) (vigia_zone_state{{state="up"{sel}}}) '
        f'+ sum by (zone) (vigia_zone_state{{state="degraded"{sel}}})'
    )


DC = 'group="datacenter"'


def thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


GOOD_HIGH = thresholds(("red", None), ("orange", 0.95), ("green", 0.98))
BAD_HIGH = thresholds(("green", None), ("orange", 0.7), ("red", 0.9))
STATE_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "Caída / sin dato", "color": "red"},
            "1": {"text": "Degradada", "color": "orange"},
            "2": {"text": "Arriba", "color": "green"},
        },
    }
]
UP_MAPPINGS = [
    {"type": "value", "options": {"0": {"text": "Caído", "color": "red"}, "1": {"text": "Arriba", "color": "green"}}}
]


# A stat panel of targets that are up or down, one coloured tile each.
UP_TILES: dict[str, Any] = {
    "defaults": {"mappings": UP_MAPPINGS, "thresholds": thresholds(("red", None), ("green", 1))},
    "options": {"colorMode": "background", "textMode": "value_and_name"},
}


def bits_per_second(metric: str, selector: str, legend: str) -> list[tuple[str, str]]:
    """Receive and transmit rates of a pair of *_receive_bytes_total / *_transmit_bytes_total counters."""
    return [
        (f"8 * rate({metric}_{way}_bytes_total{{{selector}}}[$__rate_interval])", f"{legend}{name}")
        for way, name in (("receive", "recibido"), ("transmit", "enviado"))
    ]


class Board:
    """Lays panels out left to right in rows of 24 columns."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[dict[str, Any]] = []
        self.variables: list[dict[str, Any]] = [
            {
                "name": "datasource",
                "label": "Fuente de datos",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            }
        ]
        self.x = self.y = self.row_h = 0

    def variable(self, name: str, label: str, metric: str, lab: str, *, multi: bool = False) -> None:
        self.variables.append(
            {
                "name": name,
                "label": label,
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": f"label_values({metric}, {lab})", "refId": "PrometheusVariableQueryEditor"},
                "definition": f"label_values({metric}, {lab})",
                "refresh": 2,
                "sort": 1,
                "multi": multi,
                "includeAll": multi,
                "current": {},
                "hide": 0,
            }
        )

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = self.row_h = 0

    def panel(
        self,
        kind: str,
        title: str,
        queries: list[tuple[str, str]],
        *,
        w: int = 6,
        h: int = 4,
        unit: str = "",
        description: str = "",
        instant: bool = False,
        table: bool = False,
        defaults: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        transformations: list[dict[str, Any]] | None = None,
    ) -> None:
        if self.x + w > 24:
            self._newline()
        field: dict[str, Any] = {"unit": unit} if unit else {}
        field.update(defaults or {})
        targets = []
        for i, (expr, legend) in enumerate(queries):
            t: dict[str, Any] = {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr}
            if legend:
                t["legendFormat"] = legend
            if instant or table:
                t["instant"], t["range"] = True, False
            if table:
                t["format"] = "table"
            targets.append(t)
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "description": description,
                "datasource": DATASOURCE,
                "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
                "targets": targets,
                "fieldConfig": {"defaults": field, "overrides": []},
                "options": options or {},
                "transformations": transformations or [],
            }
        )
        self.x += w
        self.row_h = max(self.row_h, h)

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["vigia"],
            "timezone": "America/Bogota",
            "editable": True,
            "graphTooltip": 1,
            "refresh": "1m",
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": "now-24h", "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "links": [
                {"type": "dashboards", "tags": ["vigia"], "asDropdown": True, "title": "vigia", "includeVars": False}
            ],
            "panels": self.panels,
        }


def overview() -> Board:
    b = Board("vigia-resumen", "vigia — Resumen", "Zonas Digitales, centro de datos, continuidad y seguridad")
    b.row("Zonas Digitales")
    b.panel(
        "gauge",
        "Zonas arriba",
        [("sum(vigia_zone_up)", "Zonas arriba"), ("count(vigia_zone_info)", "Inventario")],
        w=8,
        instant=True,
        description="Zonas que ofrecen servicio (arriba o degradadas), sobre las del inventario (N/32).",
        defaults={
            "min": 0,
            "thresholds": {**thresholds(("red", None), ("orange", 90), ("green", 100)), "mode": "percentage"},
        },
        options={"showThresholdMarkers": False, "reduceOptions": {"calcs": ["lastNotNull"], "fields": ""}},
        # The inventory query sets the gauge's maximum, so the gauge reads N of 32 whatever the inventory.
        transformations=[
            {
                "id": "configFromData",
                "options": {
                    "configRefId": "B",
                    "mappings": [{"fieldName": "Inventario", "handlerKey": "max"}],
                    "applyTo": {"id": "byFrameRefID", "options": "A"},
                },
            }
        ],
    )
    b.panel(
        "stat",
        "Zonas caídas",
        [("vigia:zones_down:count", "")],
        w=4,
        instant=True,
        defaults={"thresholds": thresholds(("green", None), ("red", 1))},
    )
    b.panel(
        "stat",
        "Disponibilidad de las zonas (30 días)",
        [("avg(zone:vigia_zone_availability:ratio30d)", "")],
        w=6,
        unit="percentunit",
        instant=True,
        defaults={"thresholds": GOOD_HIGH, "decimals": 2},
    )
    b.panel("stat", "Clientes conectados", [("vigia:zone_clients:sum", "")], w=6, instant=True)
    b.panel(
        "geomap",
        "Mapa de las Zonas Digitales",
        [(f"({zone_state()}) * on(zone) group_left(name, barrio, lat, lon) vigia_zone_info", "")],
        w=24,
        h=14,
        table=True,
        description="Verde: arriba; naranja: degradada; rojo: caída, en mantenimiento o sin dato.",
        defaults={"mappings": STATE_MAPPINGS, "thresholds": thresholds(("red", None), ("orange", 1), ("green", 2))},
        transformations=[
            {
                "id": "convertFieldType",
                "options": {
                    "conversions": [
                        {"targetField": "lat", "destinationType": "number"},
                        {"targetField": "lon", "destinationType": "number"},
                    ]
                },
            }
        ],
        options={
            "view": {"id": "coords", "lat": 10.40, "lon": -75.51, "zoom": 12},
            "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
            "basemap": {"type": "default", "name": "Mapa base"},
            "layers": [
                {
                    "type": "markers",
                    "name": "Zonas",
                    "tooltip": True,
                    "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                    "config": {
                        "showLegend": True,
                        "style": {
                            "size": {"fixed": 9},
                            "color": {"field": "Value", "fixed": "green"},
                            "text": {"mode": "field", "field": "name", "fixed": ""},
                            "textConfig": {"fontSize": 10, "offsetY": -12},
                        },
                    },
                }
            ],
            "tooltip": {"mode": "details"},
        },
    )
    b.row("Centro de datos")
    b.panel(
        "stat",
        "Servicios del centro de datos",
        [(f"vigia_target_up * on(target) group_left() vigia_target_info{{{DC}}}", "{{target}}")],
        w=12,
        h=5,
        instant=True,
        **UP_TILES,
    )
    b.panel(
        "bargauge",
        "Certificados: días para vencer",
        [("sort(target:vigia_tls_certificate_days_left)", "{{target}}")],
        w=12,
        h=5,
        unit="d",
        instant=True,
        defaults={"thresholds": thresholds(("red", None), ("orange", 15), ("green", 30)), "min": 0, "max": 90},
    )
    b.row("Continuidad y seguridad")
    b.panel(
        "stat",
        "Servicios con pruebas vencidas",
        [("sum(vigia_continuity_service_overdue)", "")],
        w=6,
        instant=True,
        defaults={"thresholds": thresholds(("green", None), ("red", 1))},
    )
    b.panel(
        "bargauge",
        "Días desde el último simulacro exitoso",
        [("(time() - vigia_drill_last_success_timestamp_seconds) / 86400", "{{drill}}")],
        w=9,
        unit="d",
        instant=True,
    )
    b.panel(
        "bargauge",
        "Hallazgos de seguridad abiertos",
        [("vigia_security_findings_open", "{{severity}}")],
        w=9,
        instant=True,
    )
    b.row("vigia")
    b.panel(
        "stat",
        "vigia responde",
        [('up{job=~"vigia.*"}', "{{instance}}")],
        w=6,
        instant=True,
        defaults={"mappings": UP_MAPPINGS, "thresholds": thresholds(("red", None), ("green", 1))},
    )
    b.panel(
        "stat",
        "Última recarga de configuración",
        [("vigia_config_last_reload_successful", "{{instance}}")],
        w=6,
        instant=True,
        defaults={
            "mappings": [{"type": "value", "options": {"0": {"text": "Fallida"}, "1": {"text": "Correcta"}}}],
            "thresholds": thresholds(("red", None), ("green", 1)),
        },
    )
    b.panel(
        "timeseries",
        "Duración del ciclo de sondeo",
        [("vigia_cycle_duration_seconds", "cada {{interval}} s")],
        w=6,
        unit="s",
    )
    b.panel(
        "timeseries",
        "Errores del almacén",
        [("increase(vigia_store_errors_total[$__rate_interval])", "{{instance}}")],
        w=6,
    )
    return b


def zone() -> Board:
    b = Board("vigia-zona", "vigia — Zona Digital", "Disponibilidad, pérdida, latencia, clientes y tráfico de una zona")
    b.variable("zone", "Zona", "vigia_zone_info", "zone")
    b.panel(
        "stat",
        "Estado",
        [(zone_state('zone="$zone"'), "")],
        w=6,
        instant=True,
        defaults={"mappings": STATE_MAPPINGS, "thresholds": thresholds(("red", None), ("orange", 1), ("green", 2))},
        options={"colorMode": "background"},
    )
    b.panel(
        "stat",
        "Disponibilidad (30 días)",
        [('zone:vigia_zone_availability:ratio30d{zone="$zone"}', "")],
        w=6,
        unit="percentunit",
        instant=True,
        defaults={"thresholds": GOOD_HIGH, "decimals": 2},
    )
    b.panel(
        "stat",
        "Meta de disponibilidad",
        [('vigia_zone_sla_target_ratio{zone="$zone"}', "")],
        w=6,
        unit="percentunit",
        instant=True,
    )
    b.panel(
        "stat",
        "Clientes ahora",
        [('vigia_zone_clients{zone="$zone"}', "")],
        w=6,
        instant=True,
    )
    b.panel(
        "state-timeline",
        "Estado en el tiempo",
        [(zone_state('zone="$zone"'), "$zone")],
        w=24,
        h=4,
        defaults={"mappings": STATE_MAPPINGS, "thresholds": thresholds(("red", None), ("orange", 1), ("green", 2))},
    )
    b.panel(
        "timeseries",
        "Pérdida de paquetes (puerta de enlace)",
        [('vigia_icmp_packet_loss_ratio{target="$zone:gateway"}', "pérdida")],
        w=12,
        h=7,
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "Latencia (puerta de enlace)",
        [(f'vigia_icmp_rtt_seconds{{target="$zone:gateway",stat="{s}"}}', s) for s in ("min", "avg", "max")],
        w=12,
        h=7,
        unit="s",
    )
    b.panel(
        "timeseries",
        "Clientes conectados",
        [('vigia_zone_clients{zone="$zone"}', "clientes")],
        w=12,
        h=7,
    )
    b.panel(
        "timeseries",
        "Tráfico",
        bits_per_second("vigia_zone", 'zone="$zone"', ""),
        w=12,
        h=7,
        unit="bps",
    )
    b.panel(
        "timeseries",
        "Resultado de cada chequeo",
        [('vigia_zone_check_success{zone="$zone"}', "{{check}}")],
        w=24,
        h=6,
        defaults={"min": 0, "max": 1},
    )
    return b


def datacenter() -> Board:
    b = Board("vigia-centro-datos", "vigia — Centro de datos", "Servidores, recursos y servicios del centro de datos")
    b.variable("host", "Servidor", "vigia_host_cpu_utilisation_ratio", "target", multi=True)
    b.row("Servicios")
    b.panel(
        "stat",
        "Estado de los servicios",
        [(f"vigia_target_up * on(target) group_left() vigia_target_info{{{DC}}}", "{{target}}")],
        w=12,
        h=5,
        instant=True,
        **UP_TILES,
    )
    b.panel(
        "bargauge",
        "Disponibilidad de los servicios (30 días)",
        [
            (
                f"target:vigia_target_availability:ratio30d * on(target) group_left() vigia_target_info{{{DC}}}",
                "{{target}}",
            )
        ],
        w=12,
        h=5,
        unit="percentunit",
        instant=True,
        defaults={"thresholds": GOOD_HIGH, "min": 0.9, "max": 1, "decimals": 2},
    )
    b.panel(
        "timeseries",
        "Tiempo de respuesta",
        [(f"vigia_probe_duration_seconds * on(target) group_left() vigia_target_info{{{DC}}}", "{{target}}")],
        w=24,
        h=7,
        unit="s",
    )
    b.row("Recursos de los servidores")
    b.panel(
        "timeseries",
        "CPU",
        [('vigia_host_cpu_utilisation_ratio{target=~"$host"}', "{{target}}")],
        w=12,
        h=7,
        unit="percentunit",
        defaults={"min": 0, "max": 1, "thresholds": BAD_HIGH},
    )
    b.panel(
        "timeseries",
        "Memoria",
        [('vigia_host_memory_utilisation_ratio{target=~"$host"}', "{{target}}")],
        w=12,
        h=7,
        unit="percentunit",
        defaults={"min": 0, "max": 1, "thresholds": BAD_HIGH},
    )
    b.panel(
        "bargauge",
        "Sistemas de archivos",
        [('vigia_host_filesystem_utilisation_ratio{target=~"$host"}', "{{target}} {{mountpoint}}")],
        w=12,
        h=7,
        unit="percentunit",
        instant=True,
        defaults={"min": 0, "max": 1, "thresholds": BAD_HIGH},
    )
    b.panel(
        "timeseries",
        "Red",
        bits_per_second("vigia_host_network", 'target=~"$host"', "{{target}} "),
        w=12,
        h=7,
        unit="bps",
    )
    b.panel(
        "timeseries",
        "Carga (1 min) por CPU",
        [('vigia_host_load1{target=~"$host"} / vigia_host_cpus{target=~"$host"}', "{{target}}")],
        w=24,
        h=6,
    )
    return b


def continuity() -> Board:
    b = Board("vigia-continuidad", "vigia — Continuidad", "Simulacros del plan de continuidad: resultados, RTO y RPO")
    b.panel(
        "bargauge",
        "RTO logrado frente a la meta",
        [
            ("vigia_drill_rto_achieved_seconds", "{{drill}} logrado"),
            ("vigia_drill_rto_target_seconds", "{{drill}} meta"),
        ],
        w=12,
        h=8,
        unit="s",
        instant=True,
    )
    b.panel(
        "bargauge",
        "RPO logrado frente a la meta",
        [
            ("vigia_drill_rpo_achieved_seconds", "{{drill}} logrado"),
            ("vigia_drill_rpo_target_seconds", "{{drill}} meta"),
        ],
        w=12,
        h=8,
        unit="s",
        instant=True,
    )
    b.panel(
        "table",
        "Simulacros por resultado",
        [("sum by (drill, result) (vigia_drill_runs_total) > 0", "")],
        w=12,
        h=8,
        table=True,
    )
    b.panel(
        "table",
        "Último simulacro",
        [
            ("vigia_drill_last_run_timestamp_seconds * 1000", ""),
            ("vigia_drill_info", ""),
        ],
        w=12,
        h=8,
        table=True,
        unit="dateTimeAsIso",
    )
    b.panel(
        "stat",
        "Servicios con pruebas vencidas",
        [("vigia_continuity_service_overdue", "{{service}}")],
        w=24,
        h=4,
        instant=True,
        defaults={
            "mappings": [{"type": "value", "options": {"0": {"text": "Al día"}, "1": {"text": "Vencida"}}}],
            "thresholds": thresholds(("green", None), ("red", 1)),
        },
        options={"colorMode": "background", "textMode": "value_and_name"},
    )
    return b


BOARDS = {"resumen": overview, "zona": zone, "centro-datos": datacenter, "continuidad": continuity}


def render() -> dict[str, str]:
    return {
        f"vigia-{name}.json": json.dumps(make().json(), ensure_ascii=False, indent=2) + "\n"
        for name, make in BOARDS.items()
    }


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(OUT / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
