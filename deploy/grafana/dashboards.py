"""The Grafana dashboards of vigia, built with Grafana Labs' grafana-foundation-sdk (typed builders):
``python deploy/grafana/dashboards.py`` writes deploy/grafana/dashboards/*.json (committed; a test
fails when they differ from what this file builds).

Four dashboards, titles and panel texts in Spanish for the NOC: overview (zones up N/32, a Geomap of
the zones coloured by state, data-centre status, drills, certificates, findings, vigia's own health),
zone detail, data centre, continuity. Operators' incidents and maintenance windows (from the store,
through vigia_incident_open and the maintenance state) are annotations. Every query here is run by
tests/test_operations.py against a real Prometheus scraping a lab vigia and must return data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    gauge,
    geomap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import geomap as geomap_models
from grafana_foundation_sdk.models import prometheus as prometheus_models

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
TIMEZONE = "America/Bogota"
DC = 'group="datacenter"'

Step = tuple[str, float | None]
Query = tuple[str, str]  # PromQL, legend


# 2 up, 1 degraded, 0 down / unknown / maintenance / no data: one number per zone to colour the map.
def zone_state(match: str = "") -> str:
    sel = f",{match}" if match else ""
    return (
        f'2 * sum by (zone) (vigia_zone_state{{state="up"{sel}}}) '
        f'+ sum by (zone) (vigia_zone_state{{state="degraded"{sel}}})'
    )


def thresholds(*steps: Step, percentage: bool = False) -> dashboard.ThresholdsConfig:
    mode = models.ThresholdsMode.PERCENTAGE if percentage else models.ThresholdsMode.ABSOLUTE
    return dashboard.ThresholdsConfig().mode(mode).steps([models.Threshold(value=v, color=c) for c, v in steps])


def mapping(texts: Mapping[str, tuple[str, str | None]]) -> list[models.ValueMapping]:
    """One value mapping: value -> (text, colour or None)."""
    return [models.ValueMap(options={k: models.ValueMappingResult(text=t, color=c) for k, (t, c) in texts.items()})]


GOOD_HIGH: tuple[Step, ...] = (("red", None), ("orange", 0.95), ("green", 0.98))
BAD_HIGH: tuple[Step, ...] = (("green", None), ("orange", 0.7), ("red", 0.9))
STATE_STEPS: tuple[Step, ...] = (("red", None), ("orange", 1), ("green", 2))
STATES = {"0": ("Caída / sin dato", "red"), "1": ("Degradada", "orange"), "2": ("Arriba", "green")}
UP = {"0": ("Caído", "red"), "1": ("Arriba", "green")}


def bits_per_second(metric: str, selector: str, legend: str) -> list[Query]:
    """Receive and transmit rates of a pair of *_receive_bytes_total / *_transmit_bytes_total counters."""
    return [
        (f"8 * rate({metric}_{way}_bytes_total{{{selector}}}[$__rate_interval])", f"{legend}{name}")
        for way, name in (("receive", "recibido"), ("transmit", "enviado"))
    ]


def last_value() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).fields("")


def up_tiles(title: str) -> stat.Panel:
    """Targets up or down, one coloured tile each."""
    return (
        stat.Panel()
        .title(title)
        .mappings(mapping(UP))
        .thresholds(thresholds(("red", None), ("green", 1)))
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .text_mode(common_models.BigValueTextMode.VALUE_AND_NAME)
    )


class PrometheusAnnotation(models.AnnotationQuery):
    """An annotation from a Prometheus query. The SDK's AnnotationQuery models the common fields
    only; Grafana's Prometheus annotations also read these (title and text from the series' labels)."""

    def __init__(self, name: str, color: str, expr: str, title: str, text: str) -> None:
        super().__init__(name=name, datasource=DATASOURCE, enable=True, icon_color=color, expr=expr)
        self.title_format, self.text_format = title, text

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload.update(titleFormat=self.title_format, textFormat=self.text_format, step="1m", useValueForTime=False)
        return payload


class Built(cogbuilder.Builder[models.AnnotationQuery]):
    def __init__(self, annotation: models.AnnotationQuery) -> None:
        self.annotation = annotation

    def build(self) -> models.AnnotationQuery:
        return self.annotation


def maintenance(match: str = "") -> Built:
    sel = f",{match}" if match else ""
    return Built(
        PrometheusAnnotation(
            "Mantenimiento",
            "blue",
            f'vigia_zone_state{{state="maintenance"{sel}}} == 1',
            "Zona {{zone}} en mantenimiento",
            "Ventana de mantenimiento (configurada o con vigia maintenance add)",
        )
    )


def incidents(match: str = "") -> Built:
    return Built(
        PrometheusAnnotation(
            "Incidentes",
            "red",
            f"vigia_incident_open{{{match}}}" if match else "vigia_incident_open",
            "Incidente #{{incident}} en {{zone}} ({{cause}})",
            "{{title}}",
        )
    )


class Board:
    """A dashboard whose panels are laid out left to right in rows of 24 columns, each with an id,
    the Prometheus data source variable and its queries (the SDK leaves layout and ids to us)."""

    def __init__(self, uid: str, title: str, description: str) -> None:
        self.board = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["vigia"])
            .timezone(TIMEZONE)
            .editable()
            .tooltip(models.DashboardCursorSync.CROSSHAIR)
            .refresh("1m")
            .time("now-24h", "now")
            .with_variable(dashboard.DatasourceVariable("datasource").label("Fuente de datos").type("prometheus"))
            .link(
                dashboard.DashboardLink("vigia")
                .type(models.DashboardLinkType.DASHBOARDS)
                .tags(["vigia"])
                .as_dropdown(True)
                .include_vars(False)
            )
        )
        self.next_id = 1
        self.x = self.y = self.row_h = 0

    def variable(self, name: str, label: str, metric: str, lab: str, *, multi: bool = False) -> None:
        definition = f"label_values({metric}, {lab})"
        self.board.with_variable(
            dashboard.QueryVariable(name)
            .label(label)
            .datasource(DATASOURCE)
            .query({"query": definition, "refId": "PrometheusVariableQueryEditor"})
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.ALPHABETICAL_ASC)
            .multi(multi)
            .include_all(multi)
        )

    def annotate(self, *annotations: Built) -> None:
        for a in annotations:
            self.board.annotation(a)

    def row(self, title: str) -> None:
        self._newline()
        self.board.with_row(
            dashboard.Row(title).id(self._id()).grid_pos(models.GridPos(h=1, w=24, x=0, y=self.y)).collapsed(False)
        )
        self.y += 1

    def panel(
        self,
        panel: Any,
        queries: list[Query],
        *,
        w: int = 6,
        h: int = 4,
        description: str = "",
        instant: bool = False,
        table_format: bool = False,
    ) -> None:
        if self.x + w > 24:
            self._newline()
        for i, (expr, legend) in enumerate(queries):
            q = prometheus.Dataquery().expr(expr).ref_id(chr(ord("A") + i)).datasource(DATASOURCE)
            if legend:
                q.legend_format(legend)
            if instant or table_format:
                q.instant()
            if table_format:
                q.format(prometheus_models.PromQueryFormat.TABLE)
            panel.with_target(q)
        if description:
            panel.description(description)
        panel.id(self._id()).datasource(DATASOURCE).grid_pos(models.GridPos(h=h, w=w, x=self.x, y=self.y))
        self.board.with_panel(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = self.row_h = 0

    def json(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(json.dumps(self.board.build(), cls=JSONEncoder)))


def overview() -> Board:
    b = Board("vigia-resumen", "vigia — Resumen", "Zonas Digitales, centro de datos, continuidad y seguridad")
    b.annotate(maintenance(), incidents())
    b.row("Zonas Digitales")
    b.panel(
        gauge.Panel()
        .title("Zonas arriba")
        .min(0)
        .thresholds(thresholds(("red", None), ("orange", 90), ("green", 100), percentage=True))
        .show_threshold_markers(False)
        .reduce_options(last_value())
        # The inventory query sets the gauge's maximum, so the gauge reads N of 32 whatever the inventory.
        .with_transformation(
            models.DataTransformerConfig(
                id_val="configFromData",
                options={
                    "configRefId": "B",
                    "mappings": [{"fieldName": "Inventario", "handlerKey": "max"}],
                    "applyTo": {"id": "byFrameRefID", "options": "A"},
                },
            )
        ),
        [("sum(vigia_zone_up)", "Zonas arriba"), ("count(vigia_zone_info)", "Inventario")],
        w=8,
        instant=True,
        description="Zonas que ofrecen servicio (arriba o degradadas), sobre las del inventario (N/32).",
    )
    b.panel(
        stat.Panel().title("Zonas caídas").thresholds(thresholds(("green", None), ("red", 1))),
        [("vigia:zones_down:count", "")],
        w=4,
        instant=True,
    )
    b.panel(
        stat.Panel()
        .title("Disponibilidad de las zonas (30 días)")
        .unit("percentunit")
        .decimals(2)
        .thresholds(thresholds(*GOOD_HIGH)),
        [("avg(zone:vigia_zone_availability:ratio30d)", "")],
        w=6,
        instant=True,
    )
    b.panel(stat.Panel().title("Clientes conectados"), [("vigia:zone_clients:sum", "")], w=6, instant=True)
    b.panel(
        geomap.Panel()
        .title("Mapa de las Zonas Digitales")
        .mappings(mapping(STATES))
        .thresholds(thresholds(*STATE_STEPS))
        .with_transformation(
            models.DataTransformerConfig(
                id_val="convertFieldType",
                options={
                    "conversions": [
                        {"targetField": "lat", "destinationType": "number"},
                        {"targetField": "lon", "destinationType": "number"},
                    ]
                },
            )
        )
        # The SDK types the view's coordinates as int; Grafana stores them as numbers.
        .view(geomap.MapViewConfig().id("coords").lat(cast(int, 10.40)).lon(cast(int, -75.51)).zoom(12))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_attribution(True))
        .basemap(common.MapLayerOptions().type("default").name("Mapa base"))
        .layers(
            [
                common.MapLayerOptions()
                .type("markers")
                .name("Zonas")
                .tooltip(True)
                .location(
                    common.FrameGeometrySource()
                    .mode(common_models.FrameGeometrySourceMode.COORDS)
                    .latitude("lat")
                    .longitude("lon")
                )
                .config(
                    {
                        "showLegend": True,
                        "style": {
                            "size": {"fixed": 9},
                            "color": {"field": "Value", "fixed": "green"},
                            "text": {"mode": "field", "field": "name", "fixed": ""},
                            "textConfig": {"fontSize": 10, "offsetY": -12},
                        },
                    }
                )
            ]
        )
        .tooltip(geomap.TooltipOptions().mode(geomap_models.TooltipMode.DETAILS)),
        [(f"({zone_state()}) * on(zone) group_left(name, barrio, lat, lon) vigia_zone_info", "")],
        w=24,
        h=14,
        table_format=True,
        description="Verde: arriba; naranja: degradada; rojo: caída, en mantenimiento o sin dato.",
    )
    agents(b)
    b.row("Centro de datos")
    b.panel(
        up_tiles("Servicios del centro de datos"),
        [(f"vigia_target_up * on(target) group_left() vigia_target_info{{{DC}}}", "{{target}}")],
        w=12,
        h=5,
        instant=True,
    )
    b.panel(
        bargauge.Panel()
        .title("Certificados: días para vencer")
        .unit("d")
        .min(0)
        .max(90)
        .thresholds(thresholds(("red", None), ("orange", 15), ("green", 30))),
        [("sort(target:vigia_tls_certificate_days_left)", "{{target}}")],
        w=12,
        h=5,
        instant=True,
    )
    b.row("Continuidad y seguridad")
    b.panel(
        stat.Panel().title("Servicios con pruebas vencidas").thresholds(thresholds(("green", None), ("red", 1))),
        [("sum(vigia_continuity_service_overdue)", "")],
        w=6,
        instant=True,
    )
    b.panel(
        bargauge.Panel().title("Días desde el último simulacro exitoso").unit("d"),
        [("(time() - vigia_drill_last_success_timestamp_seconds) / 86400", "{{drill}}")],
        w=9,
        instant=True,
    )
    b.panel(
        bargauge.Panel().title("Hallazgos de seguridad abiertos"),
        [("vigia_security_findings_open", "{{severity}}")],
        w=9,
        instant=True,
    )
    b.row("vigia")
    b.panel(
        stat.Panel().title("vigia responde").mappings(mapping(UP)).thresholds(thresholds(("red", None), ("green", 1))),
        [('up{job=~"vigia.*"}', "{{instance}}")],
        w=6,
        instant=True,
    )
    b.panel(
        stat.Panel()
        .title("Última recarga de configuración")
        .mappings(mapping({"0": ("Fallida", None), "1": ("Correcta", None)}))
        .thresholds(thresholds(("red", None), ("green", 1))),
        [("vigia_config_last_reload_successful", "{{instance}}")],
        w=6,
        instant=True,
    )
    b.panel(
        timeseries.Panel().title("Duración del ciclo de sondeo").unit("s"),
        [("vigia_cycle_duration_seconds", "cada {{interval}} s")],
        w=6,
    )
    b.panel(
        timeseries.Panel().title("Errores del almacén"),
        [("increase(vigia_store_errors_total[$__rate_interval])", "{{instance}}")],
        w=6,
    )
    return b


def agents(b: Board) -> None:
    """The zone agents' row: whether each still reports, what it holds, its clock, and the ingest."""
    b.row("Agentes de zona")
    per_agent = (
        ("Último envío de cada agente (hace)", "time() - vigia_agent_last_push_timestamp_seconds", "s", (300, 900),
         "Segundos desde el último lote que el centro guardó de cada agente (alerta VigiaAgentSilent)."),
        ("Resultados guardados en el agente", "vigia_agent_backlog_results", "short", (100, 1000),
         "Lo que cada agente aún guarda por enviar (un corte del enlace lo hace crecer)."),
        ("Desfase de reloj del agente", "abs(vigia_agent_clock_skew_seconds)", "s", (2, 60),
         "El centro corrige los tiempos más allá de 2 s (alerta VigiaAgentClockSkewed)."),
    )  # fmt: skip
    for title, expr, unit, (warn, bad), text in per_agent:
        b.panel(
            bargauge.Panel()
            .title(title)
            .unit(unit)
            .thresholds(thresholds(("green", None), ("orange", warn), ("red", bad))),
            [(expr, "{{zone}}")],
            w=8,
            h=8,
            instant=True,
            description=text,
        )
    over_time = (
        ("Resultados recibidos de los agentes", "reqps", [
            ("sum(rate(vigia_agent_results_ingested_total[$__rate_interval]))", "guardados"),
            ("sum(rate(vigia_agent_results_duplicate_total[$__rate_interval]))", "repetidos"),
        ]),
        ("Lotes rechazados por motivo", "",
         [("sum by (reason) (increase(vigia_agent_batches_refused_total[$__rate_interval]))", "{{reason}}")]),
        ("Resultados descartados por agentes llenos", "",
         [("increase(vigia_agent_dropped_results_total[$__rate_interval])", "{{zone}}")]),
    )  # fmt: skip
    for title, unit, queries in over_time:
        panel = timeseries.Panel().title(title)
        b.panel(panel.unit(unit) if unit else panel, queries, w=8, h=7)


def zone() -> Board:
    b = Board("vigia-zona", "vigia — Zona Digital", "Disponibilidad, pérdida, latencia, clientes y tráfico de una zona")
    b.variable("zone", "Zona", "vigia_zone_info", "zone")
    b.annotate(maintenance('zone="$zone"'), incidents('zone="$zone"'))
    b.panel(
        stat.Panel()
        .title("Estado")
        .mappings(mapping(STATES))
        .thresholds(thresholds(*STATE_STEPS))
        .color_mode(common_models.BigValueColorMode.BACKGROUND),
        [(zone_state('zone="$zone"'), "")],
        w=6,
        instant=True,
    )
    b.panel(
        stat.Panel()
        .title("Disponibilidad (30 días)")
        .unit("percentunit")
        .decimals(2)
        .thresholds(thresholds(*GOOD_HIGH)),
        [('zone:vigia_zone_availability:ratio30d{zone="$zone"}', "")],
        w=6,
        instant=True,
    )
    b.panel(
        stat.Panel().title("Meta de disponibilidad").unit("percentunit"),
        [('vigia_zone_sla_target_ratio{zone="$zone"}', "")],
        w=6,
        instant=True,
    )
    b.panel(stat.Panel().title("Clientes ahora"), [('vigia_zone_clients{zone="$zone"}', "")], w=6, instant=True)
    b.panel(
        statetimeline.Panel()
        .title("Estado en el tiempo")
        .mappings(mapping(STATES))
        .thresholds(thresholds(*STATE_STEPS)),
        [(zone_state('zone="$zone"'), "$zone")],
        w=24,
        h=4,
    )
    b.panel(
        timeseries.Panel().title("Pérdida de paquetes (puerta de enlace)").unit("percentunit"),
        [('vigia_icmp_packet_loss_ratio{target="$zone:gateway"}', "pérdida")],
        w=12,
        h=7,
    )
    b.panel(
        timeseries.Panel().title("Latencia (puerta de enlace)").unit("s"),
        [(f'vigia_icmp_rtt_seconds{{target="$zone:gateway",stat="{s}"}}', s) for s in ("min", "avg", "max")],
        w=12,
        h=7,
    )
    b.panel(
        timeseries.Panel().title("Clientes conectados"),
        [('vigia_zone_clients{zone="$zone"}', "clientes")],
        w=12,
        h=7,
    )
    b.panel(
        timeseries.Panel().title("Tráfico").unit("bps"), bits_per_second("vigia_zone", 'zone="$zone"', ""), w=12, h=7
    )
    b.panel(
        timeseries.Panel().title("Resultado de cada chequeo").min(0).max(1),
        [('vigia_zone_check_success{zone="$zone"}', "{{check}}")],
        w=24,
        h=6,
    )
    return b


def datacenter() -> Board:
    b = Board("vigia-centro-datos", "vigia — Centro de datos", "Servidores, recursos y servicios del centro de datos")
    b.variable("host", "Servidor", "vigia_host_cpu_utilisation_ratio", "target", multi=True)
    b.annotate(
        Built(
            PrometheusAnnotation(
                "Mantenimiento",
                "blue",
                f'vigia_target_state{{state="maintenance"}} == 1 and on(target) vigia_target_info{{{DC}}}',
                "{{target}} en mantenimiento",
                "Ventana de mantenimiento (configurada o con vigia maintenance add)",
            )
        )
    )
    b.row("Servicios")
    b.panel(
        up_tiles("Estado de los servicios"),
        [(f"vigia_target_up * on(target) group_left() vigia_target_info{{{DC}}}", "{{target}}")],
        w=12,
        h=5,
        instant=True,
    )
    b.panel(
        bargauge.Panel()
        .title("Disponibilidad de los servicios (30 días)")
        .unit("percentunit")
        .min(0.9)
        .max(1)
        .decimals(2)
        .thresholds(thresholds(*GOOD_HIGH)),
        [
            (
                f"target:vigia_target_availability:ratio30d * on(target) group_left() vigia_target_info{{{DC}}}",
                "{{target}}",
            )
        ],
        w=12,
        h=5,
        instant=True,
    )
    b.panel(
        timeseries.Panel().title("Tiempo de respuesta").unit("s"),
        [(f"vigia_probe_duration_seconds * on(target) group_left() vigia_target_info{{{DC}}}", "{{target}}")],
        w=24,
        h=7,
    )
    b.row("Recursos de los servidores")
    for title, metric in (("CPU", "cpu"), ("Memoria", "memory")):
        b.panel(
            timeseries.Panel().title(title).unit("percentunit").min(0).max(1).thresholds(thresholds(*BAD_HIGH)),
            [(f'vigia_host_{metric}_utilisation_ratio{{target=~"$host"}}', "{{target}}")],
            w=12,
            h=7,
        )
    b.panel(
        bargauge.Panel()
        .title("Sistemas de archivos")
        .unit("percentunit")
        .min(0)
        .max(1)
        .thresholds(thresholds(*BAD_HIGH)),
        [('vigia_host_filesystem_utilisation_ratio{target=~"$host"}', "{{target}} {{mountpoint}}")],
        w=12,
        h=7,
        instant=True,
    )
    b.panel(
        timeseries.Panel().title("Red").unit("bps"),
        bits_per_second("vigia_host_network", 'target=~"$host"', "{{target}} "),
        w=12,
        h=7,
    )
    b.panel(
        timeseries.Panel().title("Carga (1 min) por CPU"),
        [('vigia_host_load1{target=~"$host"} / vigia_host_cpus{target=~"$host"}', "{{target}}")],
        w=24,
        h=6,
    )
    return b


def continuity() -> Board:
    b = Board("vigia-continuidad", "vigia — Continuidad", "Simulacros del plan de continuidad: resultados, RTO y RPO")
    for what in ("RTO", "RPO"):
        low = what.lower()
        b.panel(
            bargauge.Panel().title(f"{what} logrado frente a la meta").unit("s"),
            [
                (f"vigia_drill_{low}_achieved_seconds", "{{drill}} logrado"),
                (f"vigia_drill_{low}_target_seconds", "{{drill}} meta"),
            ],
            w=12,
            h=8,
            instant=True,
        )
    b.panel(
        table.Panel().title("Simulacros por resultado"),
        [("sum by (drill, result) (vigia_drill_runs_total) > 0", "")],
        w=12,
        h=8,
        table_format=True,
    )
    b.panel(
        table.Panel().title("Último simulacro").unit("dateTimeAsIso"),
        [("vigia_drill_last_run_timestamp_seconds * 1000", ""), ("vigia_drill_info", "")],
        w=12,
        h=8,
        table_format=True,
    )
    b.panel(
        stat.Panel()
        .title("Servicios con pruebas vencidas")
        .mappings(mapping({"0": ("Al día", None), "1": ("Vencida", None)}))
        .thresholds(thresholds(("green", None), ("red", 1)))
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .text_mode(common_models.BigValueTextMode.VALUE_AND_NAME),
        [("vigia_continuity_service_overdue", "{{service}}")],
        w=24,
        h=4,
        instant=True,
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
