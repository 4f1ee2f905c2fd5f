"""Maintenance windows: recurring (cron + duration) or one-off (start + end), resolved to the
targets they cover."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import datetime

from config.sections import FileSettings
from domain.target import Target
from domain.windows import MAX_WINDOW_DAYS, Maintenance, StoredWindow, span_problem
from domain.zones import Zone
from kernel.cron import crontab_trigger
from kernel.errors import ConfigProblem
from kernel.yamlsource import Document, Path


def resolve_windows(
    doc: Document, raw: FileSettings, targets: list[Target], zones: list[Zone], problems: list[ConfigProblem]
) -> list[Maintenance]:
    out = []
    zone_ids = {z.id for z in zones}
    ids = {t.id for t in targets}
    groups = {t.group for t in targets}
    tz = zoneinfo.ZoneInfo(raw.timezone)
    for i, w in enumerate(raw.maintenance):
        base: Path = ("maintenance", i)
        for j, tid in enumerate(w.targets):
            if tid not in ids:
                problems.append(doc.problem((*base, "targets", j), f"unknown target {tid!r}"))
        for j, g in enumerate(w.groups):
            if g not in groups:
                problems.append(doc.problem((*base, "groups", j), f"no target is in group {g!r}"))
        for j, zid in enumerate(w.zones):
            if zid not in zone_ids:
                problems.append(doc.problem((*base, "zones", j), f"unknown zone {zid!r}"))
        if not w.targets and not w.groups and not w.zones:
            problems.append(doc.problem(base, "a maintenance window needs 'targets', 'groups' or 'zones'"))
        trigger = None
        if w.cron is not None:
            if w.duration is None or w.start is not None or w.end is not None:
                problems.append(doc.problem(base, "a recurring window takes 'cron' and 'duration' (not start/end)"))
            try:
                trigger = crontab_trigger(w.cron, tz)
            except ValueError as exc:
                problems.append(doc.problem((*base, "cron"), f"invalid crontab expression: {exc}"))
        elif w.start is None or w.end is None:
            problems.append(doc.problem(base, "a window takes either 'cron' + 'duration' or 'start' + 'end'"))
        else:
            problem = _span_problem(_aware(w.start, tz), _aware(w.end, tz))
            if problem is not None:
                problems.append(doc.problem((*base, problem[0]), problem[1]))
        if w.duration is not None and w.duration > MAX_WINDOW_DAYS * 86400:
            problems.append(doc.problem((*base, "duration"), f"a window lasts at most {MAX_WINDOW_DAYS} days"))
        # Group "zones" covers every zone.
        covered = set(w.zones) | (zone_ids if "zones" in w.groups else set())
        members = _members(set(w.targets) | {t.id for t in targets if t.group in w.groups}, covered, targets)
        start = _aware(w.start, tz)
        end = _aware(w.end, tz)
        out.append(Maintenance(w.id, frozenset(members), w.reason, trigger, w.duration or 0.0, start, end))
    return out


def _members(named: set[str], zones: set[str], targets: Sequence[Target]) -> frozenset[str]:
    """What a window covers: the targets it names, its zones, and each zone's checks with it."""
    return frozenset(named | zones | {t.id for t in targets if t.labels.get("zone") in zones})


def stored_window(w: StoredWindow, targets: Sequence[Target], tz: zoneinfo.ZoneInfo) -> Maintenance:
    """A window added from the command line, as the configured ones are (checked when it was added)."""
    members = _members(set(w.targets), set(w.zones), targets)
    start, end = datetime.fromtimestamp(w.start, tz), datetime.fromtimestamp(w.end, tz)
    return Maintenance(w.name, members, w.reason, None, 0.0, start, end)


def _span_problem(start: datetime | None, end: datetime | None) -> tuple[str, str] | None:
    assert start is not None and end is not None
    try:
        return span_problem(start.timestamp(), end.timestamp())
    except (OverflowError, ValueError):
        return "start", "the start is not a time any calendar vigia uses can hold"


def _aware(value: datetime | None, tz: zoneinfo.ZoneInfo) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz)
