"""Incidents: an operator's word on why zones are down ("power cut, ticket 123"), with its history.

Each incident names its zones, a title, a cause from a short list and an optional ticket; every
change (opened, each update, closed) is kept with who made it (the operating-system user) and when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.vantage import measured_cause
from kernel.errors import InputError
from kernel.text import checked
from render.catalogue import msgid

# Causes an operator may give, and their words on the status page and in reports (message ids of
# the catalogue, render/locale).
CAUSES: dict[str, str] = {
    "energia": msgid("power cut"),
    "isp": msgid("internet provider failure"),
    "equipo": msgid("equipment failure"),
    "vandalismo": msgid("vandalism"),
    "otro": msgid("other cause"),
}
TITLE_MAX, TEXT_MAX, TICKET_MAX = 200, 2000, 64


class IncidentError(InputError):
    """Bad input for an incident: the message names what and why; nothing is stored."""


@dataclass(frozen=True)
class IncidentEvent:
    at: float
    by: str
    kind: str  # opened | update | closed
    text: str


@dataclass(frozen=True)
class Incident:
    id: int
    zones: tuple[str, ...]
    title: str
    cause: str
    ticket: str
    opened_at: float
    closed_at: float | None
    events: tuple[IncidentEvent, ...] = field(default=())

    @property
    def open(self) -> bool:
        return self.closed_at is None


def check_text(what: str, text: str, limit: int, *, empty: bool = False) -> str:
    """One line of an operator's text, checked (kernel.text.checked) as an IncidentError."""
    try:
        return checked(what, text, limit, empty=empty)
    except InputError as exc:
        raise IncidentError(str(exc)) from None


def check_new(zones: list[str], known: set[str], title: str, cause: str, ticket: str) -> tuple[str, str, str]:
    """The checked (title, cause, ticket) of a new incident; IncidentError naming the first problem."""
    if not zones:
        raise IncidentError("no zone given (--zones ZD-01,ZD-02)")
    unknown = [z for z in zones if z not in known]
    if unknown:
        raise IncidentError(f"unknown zone(s) {', '.join(unknown)}: not in the configuration")
    if len(set(zones)) != len(zones):
        raise IncidentError(f"a zone is listed twice: {', '.join(zones)}")
    if cause not in CAUSES:
        raise IncidentError(f"cause {cause!r} is not one of {', '.join(CAUSES)}")
    return check_text("the title", title, TITLE_MAX), cause, check_text("the ticket", ticket, TICKET_MAX, empty=True)


# Reason-code classes (reports.incident_classes) that name a cause an operator could give: a
# power cut classified from its reason code and one an operator wrote down count as one cause.
# An unplanned outage nobody explained counts under "unrecorded".
CLASS_CAUSES = {"power": "energia", "isp": "isp", "unplanned": "unrecorded"}


def shared_seconds(incident: Incident, start: float, end: float) -> float:
    """Seconds of [start, end) within the incident's span (an open incident runs to ``end``)."""
    closed = incident.closed_at if incident.closed_at is not None else end
    return max(0.0, min(closed, end) - max(incident.opened_at, start))


def covering(incidents: Iterable[Incident], zone: str, start: float, end: float) -> Incident | None:
    """The operator's incident on ``zone`` that shares the most time with an outage [start, end),
    the earliest opened on a tie; None when none overlaps it. This is how an outage is linked."""
    best: Incident | None = None
    best_seconds = 0.0
    for inc in sorted(incidents, key=lambda i: (i.opened_at, i.id)):
        if zone in inc.zones:
            seconds = shared_seconds(inc, start, end)
            if seconds > best_seconds:
                best, best_seconds = inc, seconds
    return best


def cause_of(note: Incident | None, classification: str, reason: str = "") -> str:
    """The cause an outage counts under: the linked operator incident's cause wins; then the cause
    its zone agent measured (domain.vantage, carried in its reason code); then the class its
    reason code maps to (the cause when neither an operator nor an agent said anything)."""
    if note is not None:
        return note.cause
    return measured_cause(reason) or CLASS_CAUSES.get(classification, classification)
