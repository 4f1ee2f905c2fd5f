"""Outages linked to the operators' incidents in the monthly report: the incident table names the
incident, the cause breakdown counts the operator's cause before the reason code's class, and an
operator's text stays text in the HTML and in the PDF."""

from __future__ import annotations

import io

from pypdf import PdfReader

import config as cfg
from domain.incidents import Incident, covering
from render.engine import html_to_pdf
from reports.close import _freeze, thaw
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.page import Header
from store import db as st
from tests.reports.test_monthly_report import Cells
from tests.reports.test_opendata import BOGOTA, filled, t

__all__ = ["filled"]

HOSTILE = "Corte <script>alert(1)</script> {{ 7*7 }}"


def with_incidents(store: st.Store) -> None:
    # ZD-01 is down 08:00-09:30 on 10 January (the fixture's outage, reason gateway_timeout); ZD-02
    # goes down 10:00-10:20 on the 20th with the same reason code and nobody writes an incident.
    store.write_cycle(
        [],
        [
            st.StateChange("ZD-02", "up", "down", t("2025-01-20 10:05"), t("2025-01-20 10:00"), "gateway_timeout"),
            st.StateChange("ZD-02", "down", "up", t("2025-01-20 10:20"), t("2025-01-20 10:20")),
        ],
        0.0,
    )
    book = store.incidents
    # A short incident on both zones first, then the power cut on ZD-01 that covers most of its outage.
    first = book.open(["ZD-01", "ZD-02"], "Revisión", "equipo", "", "ana", t("2025-01-10 07:50"))
    book.close(first, "ana", t("2025-01-10 08:10"))
    cut = book.open(["ZD-01"], HOSTILE, "energia", "MDA-123", "ana", t("2025-01-10 08:10"))
    book.update(cut, "Electricaribe repara el transformador", "ana", t("2025-01-10 08:40"))
    book.close(cut, "ana", t("2025-01-10 10:00"))
    # Opened on ZD-02 after its outage was over: it overlaps nothing, so it is linked to nothing.
    book.open(["ZD-02"], "Cable cortado", "vandalismo", "", "ana", t("2025-01-25 12:00"))


def test_the_operators_cause_wins_and_the_breakdown_counts_it(filled: tuple[st.Store, cfg.Config]) -> None:
    store, conf = filled
    with_incidents(store)
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    classes = {"gateway_timeout": "isp"}
    html = render(figures, lang="es", header=Header(), incident_classes=classes)
    rows = Cells("data-incident")
    rows.feed(html)
    assert rows.scripts == 0
    # zone, start, end, minutes, classification, cause, reason code, operator's incident
    assert rows.rows["ZD-01"][3:] == [
        "90,0", "no programado", "corte de energía", "gateway_timeout", f"#2 {HOSTILE} (MDA-123)",
    ]  # fmt: skip
    assert rows.rows["ZD-02"][3:] == [
        "20,0", "no programado", "falla del proveedor de internet", "gateway_timeout", "—",
    ]  # fmt: skip
    causes = Cells("data-cause")
    causes.feed(html)
    assert causes.rows["energia"] == ["corte de energía", "1", "90,0"]
    assert causes.rows["isp"] == ["falla del proveedor de internet", "1", "20,0"]
    assert "vandalismo" not in causes.rows and "equipo" not in causes.rows
    # Without a class for the reason code, ZD-02's outage has no recorded cause; ZD-01's stays the operator's.
    bare = Cells("data-cause")
    bare.feed(render(figures, lang="en", header=Header()))
    assert bare.rows["unrecorded"] == ["cause not recorded", "1", "20.0"]
    assert bare.rows["energia"] == ["power cut", "1", "90.0"]
    # The operator's text is text in the PDF too: neither markup nor evaluated.
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(html_to_pdf(html))).pages)
    assert "<script>alert(1)</script>" in pdf_text and "{{ 7*7 }}" in pdf_text
    assert "Tiempo por causa" in pdf_text
    store.close()


def test_the_link_is_frozen_with_the_month(filled: tuple[st.Store, cfg.Config]) -> None:
    store, conf = filled
    with_incidents(store)
    figures = month_figures(store.reader(), conf.zones, 2025, 1, BOGOTA, now=t("2025-03-01 00:00"))
    again = thaw(_freeze(figures))
    assert again.incidents({"gateway_timeout": "isp"}) == figures.incidents({"gateway_timeout": "isp"})
    assert [n.title for n in again.notes] == ["Cable cortado", HOSTILE, "Revisión"]
    store.close()


def note(number: int, zones: tuple[str, ...], opened: float, closed: float | None) -> Incident:
    return Incident(number, zones, f"n{number}", "otro", "", opened, closed)


def test_covering_takes_the_longest_overlap_on_the_zone() -> None:
    notes = [note(1, ("A",), 0, 50), note(2, ("A", "B"), 40, None), note(3, ("B",), 0, 1000)]
    assert covering(notes, "A", 30, 100).id == 2  # 60 s against 20 s; an open incident runs on
    assert covering(notes, "A", 0, 40).id == 1
    assert covering(notes, "A", 10, 20).id == 1
    assert covering(notes, "C", 0, 100) is None  # no incident names the zone
    assert covering(notes, "A", -20, 0) is None  # touching is not overlapping
    assert covering([note(5, ("A",), 0, 10), note(4, ("A",), 0, 10)], "A", 0, 10).id == 4  # a tie: the earliest id
