"""Operating schedules: weekly ranges, Colombia's holidays with their observed dates, extra holidays
and closed days, daylight saving time, and the errors a bad schedule gives. Every figure below is
worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import config as cfg
from domain.availability import Period, month_window, zone_availability
from domain.schedule import Calendar, ClosedDay, Schedule, ScheduleError, WeekPlan
from kernel.errors import ConfigError

BOGOTA = ZoneInfo("America/Bogota")
SANTIAGO = ZoneInfo("America/Santiago")
LIBRARY = {"lun-vie": "07:00-12:00,14:00-19:00", "sab": "08:00-13:00", "dom": "cerrado", "festivos": "cerrado"}
CO = Calendar("CO")


def t(text: str, tz: ZoneInfo = BOGOTA) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def hours(spans: object) -> float:
    return round(spans.seconds / 3600, 6)  # type: ignore[attr-defined]


def test_november_2025_by_hand() -> None:
    """Monday to Friday 10 h with a lunch break, Saturday 5 h, closed Sunday and on holidays. November
    2025 has 20 weekdays, two of them holidays moved to Monday (3 Nov, All Saints; 17 Nov, Independence
    of Cartagena): 18 x 10 h + 5 Saturdays x 5 h = 205 h."""
    library = Schedule(WeekPlan.parse(LIBRARY), CO, "ZD-07")
    start, end = month_window(2025, 11, BOGOTA, now=t("2026-01-01 00:00"))
    assert hours(library.spans(start, end, BOGOTA)) == 205
    assert library.day(date(2025, 11, 3)).closed_because == "festivo — Día de Todos los Santos (observado)"
    assert library.day(date(2025, 11, 17)).closed_because == "festivo — Independencia de Cartagena (observado)"
    assert library.day(date(2025, 11, 11)).ranges == ((420, 720), (840, 1140))  # the real date is a Tuesday: open
    assert library.day(date(2025, 11, 16)).ranges == () and library.day(date(2025, 11, 16)).closed_because == ""
    # An outage from Saturday noon to Tuesday 09:00 counts its scheduled part only: Saturday 12:00-13:00,
    # nothing on Sunday nor on the Monday holiday, Tuesday 07:00-09:00: 3 h of 205.
    down = [Period("down", t("2025-11-15 12:00"), t("2025-11-18 09:00"))]
    a = zone_availability(down, [(start - 1, end + 1)], (start, end), BOGOTA, library, sla_target=0.98)
    assert a.operating_seconds == 205 * 3600 and a.downtime_seconds == 3 * 3600
    assert a.availability == pytest.approx(202 / 205) and a.sla_met is True
    assert a.incidents == 1  # it touched scheduled time
    # Every day the same range, holidays included, is what the single string means.
    daily = Schedule(WeekPlan.parse("06:00-22:00"), CO, "ZD-01")
    assert hours(daily.spans(start, end, BOGOTA)) == 30 * 16


def test_open_closed_and_why() -> None:
    library = Schedule(WeekPlan.parse(LIBRARY), CO, "ZD-07")
    assert library.is_open(datetime(2025, 11, 4, 10, 0, tzinfo=BOGOTA), BOGOTA)
    assert not library.is_open(datetime(2025, 11, 4, 13, 0, tzinfo=BOGOTA), BOGOTA)  # lunch
    assert not library.is_open(datetime(2025, 11, 17, 10, 0, tzinfo=BOGOTA), BOGOTA)  # holiday
    # A holiday with ranges of its own; an extra holiday; a closed day naming the zone.
    calendar = Calendar(
        "CO",
        {date(2025, 11, 12): "Día cívico de prueba"},
        (ClosedDay(date(2025, 11, 13), "Elecciones", frozenset({"ZD-07"})), ClosedDay(date(2025, 11, 14), "Obra")),
    )
    plan = WeekPlan.parse({**LIBRARY, "festivos": "09:00-12:00"})
    other = Schedule(plan, calendar, "ZD-08")
    mine = Schedule(plan, calendar, "ZD-07")
    assert mine.day(date(2025, 11, 17)).ranges == ((540, 720),)
    assert mine.day(date(2025, 11, 12)).ranges == ((540, 720),)  # the extra holiday
    assert mine.day(date(2025, 11, 13)).closed_because == "cerrado — Elecciones"
    assert other.day(date(2025, 11, 13)).ranges == ((420, 720), (840, 1140))  # not named: not closed
    assert other.day(date(2025, 11, 14)).closed_because == "cerrado — Obra"  # names nobody: every map schedule
    # The single string ignores the calendar, but for a closed day that names the zone.
    daily = Schedule(WeekPlan.parse("06:00-22:00"), calendar, "ZD-07")
    assert daily.day(date(2025, 11, 17)).ranges == ((360, 1320),)
    assert daily.day(date(2025, 11, 14)).ranges == ((360, 1320),)
    assert daily.day(date(2025, 11, 13)).closed_because == "cerrado — Elecciones"


def test_overnight_ranges_belong_to_the_day_they_start() -> None:
    bar = Schedule(WeekPlan.parse({"vie-sab": "18:00-02:00"}), Calendar(""), "x")
    # Friday 21 Nov 18:00 to Saturday 02:00, Saturday 18:00 to Sunday 02:00: 16 h in the week.
    assert hours(bar.spans(t("2025-11-17 00:00"), t("2025-11-24 00:00"), BOGOTA)) == 16
    assert bar.is_open(datetime(2025, 11, 23, 1, 30, tzinfo=BOGOTA), BOGOTA)  # Sunday 01:30, Saturday's range
    assert not bar.is_open(datetime(2025, 11, 23, 18, 30, tzinfo=BOGOTA), BOGOTA)


def test_daylight_saving_time_keeps_the_real_hours() -> None:
    """Chile moved its clocks from 00:00 to 01:00 on Sunday 7 September 2025 and from 00:00 back to
    23:00 on the night of Saturday 5 April 2025: those days had 23 and 25 real hours."""
    whole = Schedule(WeekPlan.parse({"lun-dom": "00:00-24:00"}), Calendar(""), "x")
    sunday = (t("2025-09-07 00:00", SANTIAGO), t("2025-09-08 00:00", SANTIAGO))
    assert hours(whole.spans(*sunday, SANTIAGO)) == 23
    assert hours(whole.spans(t("2025-04-05 00:00", SANTIAGO), t("2025-04-06 12:00", SANTIAGO), SANTIAGO)) == 25 + 12
    late = Schedule(WeekPlan.parse({"sab": "22:00-02:00"}), Calendar(""), "x")
    # Saturday 6 September 22:00 to Sunday 02:00 local is three real hours (00:00-01:00 never was).
    week = (t("2025-09-06 00:00", SANTIAGO), t("2025-09-08 00:00", SANTIAGO))
    assert hours(late.spans(*week, SANTIAGO)) == 3
    office = Schedule(WeekPlan.parse({"lun-dom": "08:00-20:00"}), Calendar(""), "x")
    assert hours(office.spans(*sunday, SANTIAGO)) == 12


def test_describe_in_words() -> None:
    plan = WeekPlan.parse(LIBRARY)
    assert plan.describe("es") == "lun-vie 07:00-12:00, 14:00-19:00; sáb 08:00-13:00; dom cerrado; festivos cerrado"
    assert plan.describe("en") == "Mon-Fri 07:00-12:00, 14:00-19:00; Sat 08:00-13:00; Sun closed; holidays closed"
    assert WeekPlan.parse("00:00-24:00").describe("es") == "todos los días, 24 horas"
    assert WeekPlan.parse("18:00-02:00").describe("en") == "every day 18:00-02:00 (holidays included)"
    assert WeekPlan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"lun-vie": "07:00-12:00", "vie": "08:00-09:00"}, "viernes is given twice"),
        ({"lunes-viernesx": "07:00-12:00"}, "is not a day or a range of days"),
        ({"sab": "08:00-13:00,12:00-14:00"}, "its ranges overlap"),
        ({"dom": "mañana"}, "'mañana' is not a range"),
        ("25:00-26:00", "is not a valid time range"),
        ("06:00-06:00", "is empty"),
        ({}, "hours must be a range"),
    ],
)
def test_bad_schedules_say_why(value: object, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        WeekPlan.parse(value)  # type: ignore[arg-type]


CONFIG = """timezone: America/Bogota
calendar:
  country: %(country)s
  extra_holidays:
    - {date: %(extra)s, name: Día cívico}
  closed_days:
    - {date: 2025-11-13, reason: Elecciones, zones: [%(closed_zone)s]}
groups:
  datacenter: {hours: {lun-vie: "07:00-19:00"}}
targets:
  - {id: web, probe: tcp, tcp: {host: 127.0.0.1, port: 9}}
  - {id: dns, probe: tcp, group: red, tcp: {host: 127.0.0.1, port: 9}, hours: %(target_hours)s}
zones:
  - {id: ZD-07, name: Biblioteca, lat: 10.4, lon: -75.5, gateway: 127.0.0.1,
     hours: %(zone_hours)s}
"""
GOOD = {"country": "CO", "extra": "2025-11-12", "closed_zone": "ZD-07", "target_hours": '"06:00-22:00"',
        "zone_hours": '{lun-vie: "07:00-12:00,14:00-19:00", dom: cerrado, festivos: cerrado}'}  # fmt: skip


def parse(tmp_path: Path, **changes: str) -> cfg.Config:
    (tmp_path / "c.yml").write_text(CONFIG % {**GOOD, **changes})
    return cfg.parse(str(tmp_path / "c.yml"), state_dir=str(tmp_path))


def test_configured_schedules(tmp_path: Path) -> None:
    conf = parse(tmp_path)
    [zone] = conf.zones
    assert zone.hours.day(date(2025, 11, 12)).closed_because == "festivo — Día cívico"
    assert zone.hours.day(date(2025, 11, 13)).closed_because == "cerrado — Elecciones"
    assert zone.hours_text == "lun-vie 07:00-12:00, 14:00-19:00; sáb-dom cerrado; festivos cerrado"
    web, dns = conf.target("web"), conf.target("dns")
    assert web.schedule is not None and web.schedule.plan.describe("es").startswith("lun-vie 07:00-19:00")
    assert dns.schedule is not None and dns.schedule.plan.week[6] == ((360, 1320),)  # its own hours
    assert [t.schedule for t in conf.targets if t.id.startswith("ZD-07")] == [None]  # zone checks: the zone's


@pytest.mark.parametrize(
    ("changes", "line", "says"),
    [
        ({"country": "XX"}, 3, "country 'XX' is not one the holidays package knows"),
        ({"extra": "2025-02-30"}, 5, "2025-02-30"),
        ({"closed_zone": "ZD-99"}, 7, "no zone 'ZD-99' is configured"),
        ({"zone_hours": '{lun-vie: "07:00-12:00", vie: cerrado}'}, 15, "viernes is given twice"),
        ({"target_hours": '"7-19"'}, 12, "'7-19' is not a range"),
    ],
)
def test_bad_schedules_are_located(tmp_path: Path, changes: dict[str, str], line: int, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(tmp_path, **changes)
    found = [p for p in err.value.problems if says in p.message]
    assert found, [str(p) for p in err.value.problems]
    assert found[0].line == line, str(found[0])


def test_the_operating_hours_metric_follows_a_closed_day(tmp_path: Path) -> None:
    from tests.vigiaproc import daemon_in_process

    today = datetime.now(BOGOTA).date()
    text = (
        f"timezone: America/Bogota\ncalendar: {{closed_days: [{{date: {today}, reason: Prueba}}]}}\n"
        "defaults: {interval: 5s, timeout: 1s}\n"
        "zones:\n"
        '  - {id: ZD-A, name: A, lat: 10.4, lon: -75.5, gateway: 127.0.0.1, hours: {lun-dom: "00:00-24:00"}}\n'
        '  - {id: ZD-B, name: B, lat: 10.4, lon: -75.5, gateway: 127.0.0.1, hours: "00:00-24:00"}\n'
    )
    with daemon_in_process(text, tmp_path) as daemon:
        daemon.run_cycle(5.0)
        body = daemon.exposition.body().decode()
    assert 'vigia_zone_open{zone="ZD-A"} 0.0' in body  # its map schedule closes today
    assert 'vigia_zone_open{zone="ZD-B"} 1.0' in body  # every day, the closed day names nobody


def test_the_status_page_says_why_a_zone_is_closed_today(tmp_path: Path) -> None:
    import json

    from reports import status_json, status_page

    conf = parse(tmp_path)
    [zone] = conf.zones
    holiday = datetime(2025, 11, 17, 10, 0, tzinfo=BOGOTA)
    page = status_page.view("Zonas", conf.zones, {}, holiday, BOGOTA)
    assert page.zones[0].closed_today == {
        "es": "festivo — Independencia de Cartagena (observado)",
        "en": "holiday — Independencia de Cartagena (observado)",
    }
    assert "cerrada hoy: festivo — Independencia de Cartagena (observado)" in status_page.html(page, "es", max_age=30)
    assert "closed today: holiday — Independencia" in status_page.html(page, "en", max_age=30)
    assert json.loads(status_json.to_json(page))["zones"][0]["closed_today"]["es"].startswith("festivo")
    sunday = status_page.view("Zonas", conf.zones, {}, datetime(2025, 11, 16, 10, tzinfo=BOGOTA), BOGOTA)
    assert sunday.zones[0].closed_today == {"es": "domingo", "en": "Sunday"}
    tuesday = status_page.view("Zonas", conf.zones, {}, datetime(2025, 11, 18, 13, tzinfo=BOGOTA), BOGOTA)
    assert tuesday.zones[0].closed_today is None  # open today, though not at lunch time
    assert zone.id == "ZD-07"


def test_vigia_schedule_prints_the_month_day_by_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.cli import main

    parse(tmp_path)  # writes c.yml
    assert main(["schedule", "ZD-07", "--month", "2025-11", "--config", str(tmp_path / "c.yml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ZD-07 2025-11 (America/Bogota): lun-vie 07:00-12:00, 14:00-19:00")
    days = {line[:10]: " ".join(line.split()[1:]) for line in lines[1:-1]}
    assert len(days) == 30
    assert days["2025-11-03"] == "lunes 0.00 h cerrado: festivo — Día de Todos los Santos (observado)"
    assert days["2025-11-04"] == "martes 10.00 h 07:00-12:00, 14:00-19:00"
    assert days["2025-11-12"] == "miércoles 0.00 h cerrado: festivo — Día cívico"  # the configured extra holiday
    assert days["2025-11-13"] == "jueves 0.00 h cerrado — Elecciones"
    assert days["2025-11-15"] == "sábado 0.00 h cerrado: sábado"  # the map does not name Saturday
    # 20 weekdays, less two holidays, the extra one and the closed day: 16 x 10 h.
    assert lines[-1] == "total del mes: 160.00 h"
    assert main(["schedule", "nada", "--month", "2025-11", "--config", str(tmp_path / "c.yml")]) == 2
    assert main(["schedule", "web", "--month", "2025-11", "--config", str(tmp_path / "c.yml"), "--lang", "en"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "web 2025-11 (America/Bogota): Mon-Fri 07:00-19:00; Sat-Sun closed; holidays as their weekday"
    assert out[-1] == "total: 240.00 h"  # its group's hours: 20 weekdays x 12 h, holidays as their weekday


def test_a_service_with_business_hours_counts_them_only() -> None:
    from reports.datacenter_month import _availability

    office = Schedule(WeekPlan.parse({"lun-vie": "07:00-19:00", "festivos": "cerrado"}), CO, "mesa-ayuda")
    window = month_window(2025, 11, BOGOTA, now=t("2026-01-01 00:00"))
    periods = [
        Period("down", t("2025-11-05 22:00"), t("2025-11-05 23:00")),  # at night: outside its hours
        Period("down", t("2025-11-06 10:00"), t("2025-11-06 10:30")),
    ]
    covered = [(window[0], window[1])]
    a = _availability(periods, covered, window, BOGOTA, office)
    assert a.scheduled_seconds == 18 * 12 * 3600  # 20 weekdays less two Monday holidays
    assert a.downtime_seconds == 1800 and a.availability == pytest.approx(1 - 1800 / (18 * 12 * 3600))
    assert a.hours is not None and a.hours["es"].startswith("lun-vie 07:00-19:00")
    always = _availability(periods, covered, window, BOGOTA)
    assert always.downtime_seconds == 5400 and always.hours is None
