"""Late results folded into history (domain.refold, store.refolds): a zone's span judged again once
its agent's spooled results, or its reboot, reach the centre. The rule as a table of days (a
backhaul cut, a power cut, a cut of the centre's own path), then through the store on SQLite and
PostgreSQL: a late batch queues the span in its own transaction, every member of the HA group
judges it again, the report counts the outage under the measured cause."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from domain import agents as ag
from domain.availability import Period
from domain.refold import CentralSample, Span, replay, spans_of, splice
from domain.vantage import late_after
from domain.zone_state import FAILED, OK
from domain.zones import ZoneAgent
from probes.result import ProbeResult
from reports.close import snapshot
from reports.monthly import month_figures
from reports.monthly_report import render
from reports.opendata import outages_csv
from reports.page import Header
from store import db as st
from store.records import StateChange, ZoneSample
from store.schema import members, outages
from store.schema_agents import agent_results, zone_refolds
from tests.test_zones import zone as plain_zone

T0 = datetime(2025, 1, 15, 15, 0, tzinfo=UTC).timestamp()  # 10:00 in Bogotá, within the zone's hours
MIN = 60.0
ZONE = dataclasses.replace(
    plain_zone(), agent=ZoneAgent(interval="60s", gateway="192.168.50.1", anchors=["198.51.100.1"])
)


def at(minute: float) -> float:
    return T0 + minute * MIN


def samples(failing: range, minutes: int = 30) -> list[CentralSample]:
    """The centre's cycles, one a minute: FAILED in ``failing``."""
    return [CentralSample(at(m), FAILED if m in failing else OK, "up", True) for m in range(minutes)]


def inside(minutes: range, *, internet_down: range = range(0), offset: float = 5.0) -> list[ProbeResult]:
    """The agent's results, one a minute (five seconds after the centre's cycle): gateway and anchor."""
    out = []
    for m in minutes:
        when = datetime.fromtimestamp(at(m) + offset, UTC)
        out.append(
            ProbeResult("gateway", "icmp", when, 0.01, True, values={"loss_ratio": 0.0, "rtt_avg_seconds": 0.002})
        )
        ok = m not in internet_down
        out.append(ProbeResult("internet:198.51.100.1", "icmp", when, 0.01, ok, "" if ok else "timeout"))
    return out


STORED_CUT = [Period("down", at(10), at(20), "gateway_timeout")]  # what the central view stored


def test_a_backhaul_cut_judged_again_with_the_spooled_results_is_enlace_for_the_cut() -> None:
    span = Span("ZD-01", at(0), at(30))
    got = replay(ZONE, span, samples(range(10, 20)), inside(range(30), internet_down=range(10, 20)), STORED_CUT).periods
    # Each cycle sees the agent's results measured before it: the cut shows from the cycle after
    # its first failed anchor to the cycle after its first answered one.
    assert got == [Period("down", at(11), at(21), "agent_enlace")]
    # The stored periods once the span's replace them: one outage, its cause measured.
    assert splice(STORED_CUT, got, span.start, span.end) == got


def test_only_the_centres_path_cut_is_no_downtime() -> None:
    span = Span("ZD-01", at(0), at(30))
    judged = replay(ZONE, span, samples(range(10, 20)), inside(range(30)), STORED_CUT)
    assert judged.periods == [] and splice(STORED_CUT, judged.periods, span.start, span.end) == []
    # Each cycle the centre found dark is judged available: what the report counts as the
    # monitoring path's time.
    assert {ts for ts, v in judged.verdicts.items() if v == OK} == {s.ts for s in samples(range(10, 20))}


def test_a_power_cut_is_energia_once_the_agent_reports_its_boot() -> None:
    """Agent and gateway silent from minute 9.5 to 20 (the agent spooled nothing: it had no power),
    then a boot: the silence is judged as a power cut, within one interval of when it began."""
    span = Span("ZD-01", at(9) + 5, at(20) + 5, rebooted=True)
    got = replay(ZONE, span, samples(range(10, 20)), inside([*range(10), *range(20, 30)]), STORED_CUT).periods
    assert [(p.kind, p.reason) for p in got] == [("down", "agent_energia")]
    assert at(10) <= got[0].start <= at(11) and got[0].end == at(20)  # the centre saw it again at 20
    # Without the boot the same silence stays the centre's outage, its reason the centre's.
    plain = replay(ZONE, dataclasses.replace(span, rebooted=False), samples(range(10, 20)),
                   inside([*range(10), *range(20, 30)]), STORED_CUT).periods  # fmt: skip
    assert [(p.kind, p.reason) for p in plain] == [("down", "gateway_timeout")]


def test_splice_keeps_what_lies_outside_the_span_and_counts_an_outage_once() -> None:
    stored = [Period("down", at(0), None, "gateway_timeout")]  # still open, begun before the span
    replayed = [Period("down", at(5), at(10), "agent_enlace")]
    assert splice(stored, replayed, at(5), at(10)) == [Period("down", at(0), None, "agent_enlace")]
    # The replay found the zone up within the span: the outage is split around it.
    assert splice(stored, [], at(5), at(10)) == [
        Period("down", at(0), at(5), "gateway_timeout"),
        Period("down", at(10), None, "gateway_timeout"),
    ]


@pytest.mark.parametrize(
    ("case", "times", "boot_at", "prior_boot", "prior_push", "expected"),
    [
        ("fresh results call for nothing", [at(29), at(29.5)], 100.0, 100.0, at(28), []),
        ("results arriving later than late_after: oldest to arrival", [at(10), at(29.5)], 100.0, 100.0, at(9),
         [Span("ZD-01", at(10), at(30))]),
        ("a boot after the last push: the silence", [at(29.5)], at(25), 100.0, at(9),
         [Span("ZD-01", at(9), at(29.5), rebooted=True)]),
        ("results spooled before the power went end no silence", [at(8.5), at(29.5)], at(25), 100.0, at(8),
         [Span("ZD-01", at(8.5), at(30)), Span("ZD-01", at(8), at(29.5), rebooted=True)]),
        ("the boot time moved less than the noise: no reboot", [at(29.5)], 130.0, 100.0, at(28), []),
        ("first batch ever: nothing to compare", [at(29.5)], at(25), None, None, []),
    ],
)  # fmt: skip
def test_which_spans_a_batch_calls_to_be_judged_again(
    case: str, times: list[float], boot_at: float, prior_boot: float | None, prior_push: float | None,
    expected: list[Span],
) -> None:  # fmt: skip
    got = spans_of("ZD-01", times, at(30), late_after(60.0), boot_at=boot_at, prior_boot_at=prior_boot,
                   prior_push_at=prior_push)  # fmt: skip
    assert got == expected, case


# -- through the store --------------------------------------------------------


def central_cut(store: st.Store, zones: tuple[str, ...] = ("ZD-01",)) -> None:
    """Thirty one-minute cycles of the zones as the centre measured them: dark from minute 10 to 20."""
    for m in range(30):
        failed = 10 <= m < 20
        changes, samples = [], []
        for zone in zones:
            if m == 10:
                changes.append(StateChange(zone, "up", "down", at(10), at(10), "gateway_timeout"))
            if m == 20:
                changes.append(StateChange(zone, "down", "up", at(20), at(20)))
            samples.append(ZoneSample(zone, at(m), 60.0, "down" if failed else "up", FAILED if failed else OK, True,
                                      None, None, "{}"))  # fmt: skip
        store.write_cycle([], changes, at(m), samples)


def spooled(minutes: range, internet_down: range, *, sent_at: float, boot_time: float,
            zone: str = "ZD-01") -> ag.AgentBatch:  # fmt: skip
    results = []
    for m in minutes:
        ok = m not in internet_down
        results += [
            {"seq": 2 * m + 1, "at": at(m) + 5, "check": "gateway", "probe": "icmp", "success": True, "duration": 0.01},
            {"seq": 2 * m + 2, "at": at(m) + 5, "check": "internet:198.51.100.1", "probe": "icmp", "success": ok,
             "duration": 0.01},
        ]  # fmt: skip
    body = {"zone": zone, "version": "1.0", "sent_at": sent_at, "boot_time": boot_time, "clock_synced": True,
            "results": results}  # fmt: skip
    return ag.parse(json.dumps(body).encode())


def zone_periods(store: st.Store, zone: str = "ZD-01") -> list[tuple[str, float, float | None, str]]:
    o = outages.c
    with store.engine.connect() as conn:
        q = sa.select(o.kind, o.started_at, o.ended_at, o.reason).where(o.instance == store.instance, o.target == zone)
        return [tuple(r) for r in conn.execute(q.order_by(o.started_at))]  # type: ignore[misc]


def test_a_late_batch_is_judged_again_by_every_member_and_reported_under_its_cause(url: str) -> None:
    a, b = st.Store(url, "centro-a"), st.Store(url, "centro-b")
    a.migrate()
    with a.engine.begin() as conn:  # centro-b is the other member of the HA group "ha"
        member = {"holder": "centro-b/h/1/x", "instance": "centro-b", "ha_group": "ha", "host": "h", "pid": 1,
                  "version": "1", "started_at": T0, "last_seen": T0, "role": "follower"}  # fmt: skip
        conn.execute(members.insert().values(**member))
    for store in (a, b):
        central_cut(store)
    agents = a.agents("ha")
    agents.add("ZD-01", "ana", T0)
    after = late_after(60.0)
    # Before the cut: a batch on time (its first: nothing to compare, nothing to judge again).
    first = spooled(range(1, 2), range(0), sent_at=at(2), boot_time=T0 - 3600)
    agents.store(first, ag.corrected(first, at(2)), received_at=at(2), skew=0.0, late_after=after)
    # The link returns at minute 20; the spool reaches the centre at minute 30.
    late = spooled(range(2, 30), range(10, 20), sent_at=at(30), boot_time=T0 - 3600)
    done = agents.store(late, ag.corrected(late, at(30)), received_at=at(30), skew=0.0, late_after=after)
    assert done.new == 56
    with a.engine.connect() as conn:
        queued = conn.execute(sa.select(zone_refolds.c.instance, zone_refolds.c.start, zone_refolds.c.end)).all()
    assert sorted(queued) == [("centro-a", at(2) + 5, at(30)), ("centro-b", at(2) + 5, at(30))]

    zones = {"ZD-01": ZONE}
    for store in (a, b):
        assert store.refold(zones) == 1
        assert zone_periods(store) == [("down", at(11), at(21), "agent_enlace")]
        assert store.refold(zones) == 0  # done: its row went with the periods it rewrote
    # The same span judged again (a replayed queue row) gives the same periods.
    with a.engine.begin() as conn:
        conn.execute(zone_refolds.insert().values(instance="centro-a", owner="ha", zone="ZD-01", start=at(2) + 5,
                                                  end=at(30), rebooted=False, requested_at=at(31)))  # fmt: skip
    assert a.refold(zones) == 1 and zone_periods(a) == [("down", at(11), at(21), "agent_enlace")]

    figures = month_figures(a.reader(), [ZONE], 2025, 1, ZoneInfo("America/Bogota"), at(40))
    [outage] = figures.incidents()
    assert (outage.cause, outage.reason) == ("enlace", "agent_enlace")
    assert outage.seconds == pytest.approx(10 * MIN)
    [row] = figures.causes()
    assert (row.cause, row.periods, row.seconds) == ("enlace", 1, pytest.approx(600.0))
    a.close()
    b.close()


def test_a_reboot_after_the_silence_is_a_power_cut(url: str) -> None:
    store = st.Store(url, "centro-a")
    store.migrate()
    central_cut(store)
    agents = store.agents()
    agents.add("ZD-01", "ana", T0)
    after = late_after(60.0)
    before = spooled(range(8, 10), range(0), sent_at=at(9) + 10, boot_time=T0 - 86400)  # on time
    agents.store(before, ag.corrected(before, at(9) + 10), received_at=at(9) + 10, skew=0.0, late_after=after)
    # Power back at minute 20: the agent boots and pushes what it measures from then on.
    booted = spooled(range(21, 23), range(0), sent_at=at(22) + 10, boot_time=at(20) + 30)
    agents.store(booted, ag.corrected(booted, at(22) + 10), received_at=at(22) + 10, skew=0.0, late_after=after)
    assert store.refold({"ZD-01": ZONE}) == 1
    [(kind, start, end, reason)] = zone_periods(store)
    assert (kind, reason) == ("down", "agent_energia")
    assert at(10) <= start <= at(11) and end == at(20)  # the centre saw the zone again at minute 20
    store.close()


def centre_with_agent(url: str) -> st.Store:
    """A centre that saw ZD-01 dark from minute 10 to 20, whose agent pushed once, on time, at 2."""
    store = st.Store(url, "centro-a")
    store.migrate()
    central_cut(store)
    store.agents().add("ZD-01", "ana", T0)
    deliver(store, range(1, 2), range(0), at(2))
    return store


def deliver(store: st.Store, minutes: range, internet_down: range, received_at: float) -> None:
    batch = spooled(minutes, internet_down, sent_at=received_at, boot_time=T0 - 3600)
    store.agents().store(batch, ag.corrected(batch, received_at), received_at=received_at, skew=0.0,
                         late_after=late_after(60.0))  # fmt: skip


def test_a_closed_month_stays_frozen_and_says_which_agents_still_held_data(url: str) -> None:
    """Frozen while the agent's spool had not arrived: the report names the agent and keeps its
    figures; once the spool is judged, `--refreeze` takes the outage's measured cause in."""
    store = centre_with_agent(url)
    bogota = ZoneInfo("America/Bogota")
    frozen = snapshot(store.reader(), [ZONE], 2025, 1, bogota)
    assert frozen.agents_holding == ("ZD-01",)  # silent since minute 2 of a month now over
    assert [i.cause for i in frozen.incidents()] == ["unrecorded"]
    html = render(frozen, lang="es", header=Header())
    assert 'id="agents-holding"' in html and "ZD-01" in html and "vigia report month --refreeze" in html

    deliver(store, range(2, 30), range(10, 20), at(30))
    assert store.refold({"ZD-01": ZONE}) == 1
    again = snapshot(store.reader(), [ZONE], 2025, 1, bogota)
    assert [i.cause for i in again.incidents()] == ["unrecorded"]  # closed: read back as frozen
    taken = snapshot(store.reader(), [ZONE], 2025, 1, bogota, refreeze=True)
    assert [(i.cause, i.seconds) for i in taken.incidents()] == [("enlace", pytest.approx(600.0))]
    assert "corte del enlace" in render(taken, lang="es", header=Header())
    # The open data of the outages says the same: its cause, measured by the zone's agent.
    [_, row] = outages_csv(taken).decode().splitlines()
    assert row.endswith(",10.0,enlace,agente") and row.startswith("2025,1,ZD-01,2025-01-15T10:11:00-05:00,")
    store.close()


def test_a_cut_of_the_centres_path_alone_is_the_paths_time_in_the_report(url: str) -> None:
    """The centre found the zone dark for ten minutes; the agent's spool, judged again, says the
    zone worked: no outage, and the report counts ten minutes of the monitoring path's."""
    store = centre_with_agent(url)
    deliver(store, range(2, 30), range(0), at(30))
    assert store.refold({"ZD-01": ZONE}) == 1
    assert zone_periods(store) == []
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT central, verdict FROM zone_samples WHERE ts >= :a AND ts < :b"),
                            {"a": at(10), "b": at(20)}).all()  # fmt: skip
    assert {tuple(r) for r in rows} == {(FAILED, OK)}  # the centre's word kept beside the judged one
    figures = month_figures(store.reader(), [ZONE], 2025, 1, ZoneInfo("America/Bogota"), at(40))
    [zone] = figures.zones
    assert zone.path_seconds == 600.0 and zone.availability.downtime_seconds == 0
    html = render(snapshot(store.reader(), [ZONE], 2025, 1, ZoneInfo("America/Bogota")), lang="es", header=Header())
    assert 'id="monitoring-path"' in html and "Fallas en la ruta de monitoreo" in html
    store.close()


def test_a_span_that_cannot_be_judged_holds_no_other_zone_back(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A queued span whose agent rows do not read back (corrupted by hand) is logged and left
    queued; the span queued after it, another zone's, is judged all the same."""
    store = st.Store(url, "centro")
    store.migrate()
    central_cut(store)
    agents = store.agents("centro")
    agents.add("ZD-01", "ana", T0)
    late = spooled(range(2, 30), range(10, 20), sent_at=at(30), boot_time=T0 - 3600)
    agents.store(late, ag.corrected(late, at(30)), received_at=at(30), skew=0.0, late_after=None)
    other = dataclasses.replace(ZONE, id="ZD-02")
    store.write_cycle([], [], at(1), [ZoneSample("ZD-02", at(1), 60.0, "up", OK, True, None, None, "{}")])
    with store.engine.begin() as conn:
        conn.execute(agent_results.insert().values(owner="centro", zone="ZD-02", seq=1, ts=at(1), check="gateway",
                                                   probe="icmp", duration=0.01, success=True, reason="", message="",
                                                   data="{not json", received_at=at(2)))  # fmt: skip
        for zone in ("ZD-02", "ZD-01"):  # the bad span first
            conn.execute(zone_refolds.insert().values(instance="centro", owner="centro", zone=zone, start=at(0),
                                                      end=at(30), rebooted=False, requested_at=at(31)))  # fmt: skip
    zones = {"ZD-01": ZONE, "ZD-02": other}
    with caplog.at_level("ERROR", logger="vigia"):
        assert store.refold(zones) == 1
    assert zone_periods(store) == [("down", at(11), at(21), "agent_enlace")]
    assert "zone ZD-02" in caplog.text and "left queued" in caplog.text
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(zone_refolds.c.zone)).scalars().all() == ["ZD-02"]
    store.close()


def test_a_regional_cut_of_a_hundred_zones_is_judged_again_over_a_few_cycles(url: str) -> None:
    """A hundred zones behind one cut backhaul: their spools arrive together, a hundred spans are
    queued, and the writer works them off PER_RUN a cycle until every zone reads `enlace`."""
    from store.refolds import PER_RUN

    store = st.Store(url, "centro")
    store.migrate()
    ids = tuple(f"ZD-{n:03d}" for n in range(1, 101))
    central_cut(store, ids)
    agents = store.agents("centro")
    for zone in ids:
        agents.add(zone, "ana", T0)
        late = spooled(range(2, 30), range(10, 20), sent_at=at(30), boot_time=T0 - 3600, zone=zone)
        agents.store(late, ag.corrected(late, at(30)), received_at=at(30), skew=0.0, late_after=late_after(60.0))
    zones = {zone: dataclasses.replace(ZONE, id=zone) for zone in ids}
    runs = []
    for _ in range(5):  # bounded: two runs are needed
        runs.append(store.refold(zones))
        if runs[-1] == 0:
            break
    assert runs == [PER_RUN, 100 - PER_RUN, 0]
    for zone in ids:
        assert zone_periods(store, zone) == [("down", at(11), at(21), "agent_enlace")], zone
    store.close()
