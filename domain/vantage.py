"""Two views of a zone, one verdict, one cause.

The central view is what the data centre measures of a zone (domain.zone_state); the inside view
is what the zone's agent measures on the zone's LAN, as a citizen meets it. When the agent reports
for a span, its view decides availability; when it does not, the central view alone does. Each
outage gets a cause measured, not typed:

- ``enlace``     the agent is up and its gateway answers, but the internet is unreachable: the
                 backhaul (the link between the zone and the world) is cut;
- ``energia``    agent and gateway fell silent together and the agent reports a boot after the
                 gap: the power went;
- ``equipo``     the gateway, the access points or the hotspot's resolver fail from inside;
- ``portal``     the internet answers but the captive portal fails;
- ``degradada``  everything answers, but loss, latency or throughput are past the zone's
                 thresholds: shown and counted apart, never downtime.

A central path failing while the inside view is fine is not downtime: it is a monitoring-path
event ("ruta de monitoreo"). An operator's incident cause still wins (domain.incidents.cause_of).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.zone_state import DEGRADED, FAILED, OK
from probes.result import ProbeResult
from render.catalogue import msgid

if TYPE_CHECKING:  # the command line reads this module's causes: it need not load the zones' models
    from domain.zones import ZoneThresholds

ENLACE, ENERGIA, EQUIPO, PORTAL, DEGRADADA = "enlace", "energia", "equipo", "portal", "degradada"

# Measured causes in words (message ids of the catalogue); an operator's causes are domain.incidents'.
MEASURED_CAUSES = {
    ENLACE: msgid("backhaul link cut"),
    ENERGIA: msgid("power cut"),
    EQUIPO: msgid("equipment failure"),
    PORTAL: msgid("captive portal failure"),
    DEGRADADA: msgid("degraded service"),
}

INSIDE, CENTRAL = "inside", "central"
# Seconds an agent's results may take to arrive after its interval (its push period, a retry).
INSIDE_SLACK = 30.0
# A period's reason code when the inside view decided it: "agent_<cause>" (store.records' reason).
AGENT_REASON = "agent_"
PATH_REASON = "monitoring_path"


def fresh_window(interval: float) -> float:
    """How old an agent's result may be and still speak for its zone now, live: two of its intervals
    and the push's slack (results arriving after their cycles fold into history: late_after)."""
    return 2 * interval + INSIDE_SLACK


def hindsight_window(interval: float) -> float:
    """How long a result speaks for its zone when a span is judged again after the fact: its own
    interval and half of one for the jitter between the agent's and the centre's cycles (no
    push slack: what came after it is known)."""
    return 1.5 * interval


# Seconds a push may take beyond a result's hindsight window before the result counts as late.
PUSH_SLACK = 5.0


def late_after(interval: float) -> float:
    """How old a result may arrive and still have been in time for the cycles after it: older,
    those cycles were judged without it (a backhaul cut's spool), so its span is judged again."""
    return hindsight_window(interval) + PUSH_SLACK


def reason_of(j: Judgement) -> str:
    """The reason code a period decided by ``j`` carries (what reports read the cause from)."""
    if j.cause:
        return AGENT_REASON + j.cause
    return PATH_REASON if j.path_event else ""


def measured_cause(reason: str) -> str:
    """The cause measured in a period's reason code ("" when the code names none)."""
    if reason.startswith(AGENT_REASON) and reason[len(AGENT_REASON) :] in MEASURED_CAUSES:
        return reason[len(AGENT_REASON) :]
    return ""


@dataclass(frozen=True)
class InsideView:
    """What the agent measured in one span; None: that check did not run in it."""

    gateway: bool | None = None
    access_points: bool | None = None
    dns: bool | None = None  # through the hotspot's resolver, with the expected answer
    portal: bool | None = None
    internet: bool | None = None  # any configured anchor reached
    degraded: tuple[str, ...] = ()  # why, when loss, latency or throughput are past thresholds


@dataclass(frozen=True)
class Judgement:
    verdict: str  # domain.zone_state's OK, DEGRADED, FAILED or NO_DATA
    cause: str  # one of MEASURED_CAUSES, or "" when nothing measured says why
    view: str  # INSIDE or CENTRAL: whose measurement decided
    path_event: bool = False  # the centre failed to reach a zone its agent found fine
    why: str = ""


def judge(central: str, inside: InsideView | None, *, rebooted: bool = False) -> Judgement:
    """One span of a zone: ``central`` is the central view's verdict; ``inside`` the agent's view
    (None when the agent delivered nothing for the span); ``rebooted``: the agent reported a boot
    after that silence (known once it reports again)."""
    if inside is None:
        if central == FAILED and rebooted:
            return Judgement(FAILED, ENERGIA, CENTRAL, why="agent and gateway silent, agent booted after the gap")
        return Judgement(central, "", CENTRAL)
    path_event = central == FAILED
    if inside.gateway is False or inside.access_points is False:
        which = "gateway" if inside.gateway is False else "access points"
        return Judgement(FAILED, EQUIPO, INSIDE, why=f"{which} down from inside the zone")
    if inside.internet is False:
        return Judgement(FAILED, ENLACE, INSIDE, why="gateway answers, internet unreachable from inside")
    if inside.dns is False:
        return Judgement(FAILED, EQUIPO, INSIDE, why="the hotspot's resolver fails or answers falsely")
    if inside.portal is False:
        return Judgement(FAILED, PORTAL, INSIDE, why="internet reachable, captive portal failing")
    if inside.degraded:
        return Judgement(DEGRADED, DEGRADADA, INSIDE, path_event, "; ".join(inside.degraded))
    if all(v is None for v in (inside.gateway, inside.access_points, inside.dns, inside.portal, inside.internet)):
        return Judgement(central, "", CENTRAL)  # the agent spoke but measured nothing: the centre decides
    return Judgement(OK, "", INSIDE, path_event, "monitoring path failing" if path_event else "")


def inside_view(results: Mapping[str, ProbeResult], thresholds: ZoneThresholds) -> InsideView:
    """The agent's results of one span by check name (gateway, access_points, dns, portal,
    internet:<anchor>..., throughput) as an inside view."""

    def ok(name: str) -> bool | None:
        r = results.get(name)
        return None if r is None else r.success

    anchors = [r.success for name, r in results.items() if name.startswith("internet:")]
    gateway = results.get("gateway")
    degraded = []
    if gateway is not None and gateway.success:
        loss, rtt = gateway.values.get("loss_ratio"), gateway.values.get("rtt_avg_seconds")
        if loss is not None and loss > thresholds.degraded_loss_ratio:
            degraded.append(f"loss {loss:.0%} > {thresholds.degraded_loss_ratio:.0%}")
        if rtt is not None and rtt > thresholds.degraded_rtt:
            degraded.append(f"RTT {rtt * 1000:.0f} ms > {thresholds.degraded_rtt * 1000:.0f} ms")
    speed = results.get("throughput")
    floor = thresholds.degraded_throughput_bps
    if speed is not None and speed.success and floor is not None:
        rate = speed.values.get("throughput_bytes_per_second")  # the http probe's, in base units
        bps = None if rate is None else rate * 8  # the threshold is in bits, as links are sold
        if bps is not None and bps < floor:
            degraded.append(f"throughput {bps / 1e6:.1f} Mbit/s < {floor / 1e6:.1f} Mbit/s")
    return InsideView(
        gateway=ok("gateway"),
        access_points=ok("access_points"),
        dns=ok("dns"),
        portal=ok("portal"),
        internet=any(anchors) if anchors else None,
        degraded=tuple(degraded),
    )
