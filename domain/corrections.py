"""Corrections after the fact, laid over the periods as measured when a month's figures are read:
a maintenance window added for time already past (its down time becomes planned) and an outage
excluded as a monitoring fault or a false positive (out of the downtime, listed apart). The
measured periods stay stored as they were: an auditor sees both, and who corrected what, when
and why (the correction's own record)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from domain.availability import Period
from domain.incidents import CAUSES, Incident
from kernel.errors import InputError
from kernel.text import checked

PLANNED = "maintenance"  # the period kind a planned window makes of down time
EXCLUDED = "excluded"  # down time corrected away: neither downtime nor planned, kept in the record
# Where a planned window and an exclusion cover the same time, the exclusion wins: time that was
# never down is not planned downtime either.
_RANK = {EXCLUDED: 0, PLANNED: 1}


@dataclass(frozen=True)
class Layer:
    """A correction over [start, end) of the named zones and targets; ``name`` becomes the reason of
    the periods it makes (a window's "cli-3", an exclusion's "corr-5")."""

    kind: str  # PLANNED | EXCLUDED
    targets: frozenset[str]
    start: float
    end: float
    name: str


def overlay(target: str, periods: Sequence[Period], layers: Sequence[Layer], until: float) -> list[Period]:
    """``target``'s periods with the down time inside each layer covering it turned to the layer's
    kind; other kinds (no data, degraded, maintenance already) are what they were. ``until``: the
    end of an open period, for splitting it."""
    mine = sorted((x for x in layers if target in x.targets), key=lambda x: (_RANK[x.kind], x.start))
    if not mine:
        return list(periods)
    out: list[Period] = []
    for p in periods:
        if p.kind != "down":
            out.append(p)
            continue
        end = p.end if p.end is not None else max(until, p.start)
        cuts = sorted({p.start, end, *(t for x in mine for t in (x.start, x.end) if p.start < t < end)})
        first = len(out)  # segments of this period merge with each other, never with another period
        for a, b in itertools.pairwise(cuts):
            layer = next((x for x in mine if x.start <= a < x.end), None)
            kind, reason = (p.kind, p.reason) if layer is None else (layer.kind, layer.name)
            stop = None if p.end is None and b == end else b
            if len(out) > first and out[-1].kind == kind and out[-1].reason == reason and out[-1].end == a:
                out[-1] = Period(kind, out[-1].start, stop, reason)
            else:
                out.append(Period(kind, a, stop, reason))
    return out


def corrected_seconds(before: Sequence[Period], after: Sequence[Period], start: float, end: float) -> float:
    """Down time within [start, end) that the corrections turned into something else."""

    def down(ps: Sequence[Period]) -> float:
        return sum(
            max(0.0, min(p.end if p.end is not None else end, end) - max(p.start, start))
            for p in ps
            if p.kind == "down"
        )

    return down(before) - down(after)


EXCLUDE, ANNOTATE = "exclude", "annotate"


@dataclass(frozen=True)
class Correction:
    """One correction as recorded: the span of a zone or target it corrects, what it does (exclude
    the down time, or annotate it with a cause), the reason or note, the period as measured, and
    who made it when."""

    id: int
    target: str
    start: float
    end: float
    action: str  # EXCLUDE | ANNOTATE
    cause: str
    text: str
    measured: str
    created_by: str
    created_at: float

    @property
    def name(self) -> str:
        return f"corr-{self.id}"


def layers_of(
    windows: Sequence[tuple[str, frozenset[str], float, float]], corrections: Sequence[Correction]
) -> list[Layer]:
    """The layers a month's figures lay over its periods: every window (name, what it covers, start,
    end) as planned time, every exclusion as excluded time (annotations change no period)."""
    out = [Layer(PLANNED, covers, start, end, name) for name, covers, start, end in windows]
    out += [Layer(EXCLUDED, frozenset({c.target}), c.start, c.end, c.name) for c in corrections if c.action == EXCLUDE]
    return out


def as_note(c: Correction) -> Incident:
    """An annotation as the note an outage is linked to (domain.incidents.covering): its cause then
    wins over the measured one and the reason code's class, as an operator's incident's does."""
    return Incident(-c.id, (c.target,), c.text, c.cause, c.name, c.start, c.end)


def late(window_start: float, created_at: float) -> bool:
    """Whether a maintenance window was added after its time began: a correction, listed as one."""
    return created_at > window_start


class CorrectionError(InputError):
    """A correction refused: the message names what and why; nothing is stored."""


TEXT_MAX = 500


def check_correction(number: int, kind: str, end: float | None, action: str, text: str, cause: str = "") -> str:
    """The checked text of a correction of stored period ``number`` (its ``kind``, its ``end``);
    CorrectionError naming the first problem. Only an ended outage is corrected: a period of
    planned time or no data is not downtime to take out, and one still open has no span yet."""
    if kind != "down":
        raise CorrectionError(f"period {number} is {kind}, not an outage: only outages (down) are corrected")
    if end is None:
        raise CorrectionError(f"outage {number} has not ended: correct it once it has")
    if action == ANNOTATE and cause not in CAUSES:
        raise CorrectionError(f"cause {cause!r} is not one of {', '.join(sorted(CAUSES))}")
    try:
        return checked("the reason" if action == EXCLUDE else "the text", text, TEXT_MAX)
    except InputError as exc:
        raise CorrectionError(str(exc)) from None


# A window over time already measured is a correction of it, and corrects at most a month: more
# is a closure, which the zone's schedule says (hours: cerrado), not a correction.
LATE_WINDOW_DAYS = 31


def check_late_window(start: float, end: float, now: float) -> None:
    """CorrectionError if a window that starts before ``now`` lasts longer than a month."""
    if start < now and end - start > LATE_WINDOW_DAYS * 86400:
        raise CorrectionError(
            f"the window starts in the past and lasts {(end - start) / 86400:.0f} days: a window over measured "
            f"time corrects at most {LATE_WINDOW_DAYS} days (a zone closed for longer: hours: cerrado)"
        )
