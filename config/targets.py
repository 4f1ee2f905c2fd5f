"""Targets: each entry checked against its probe's settings model, from the registry."""

from __future__ import annotations

import re

from config.inherit import packets, timing
from config.sections import FileSettings, TargetSettings
from domain.schedule import Calendar, Schedule, WeekPlan
from domain.target import Target
from kernel.errors import ConfigProblem
from kernel.spec import SpecError, convert, required
from kernel.units import format_duration
from kernel.yamlsource import SECRET_WORDS, Document, Path, spec_problems
from probes import REGISTRY, ProbeKind
from probes.settings import Settings

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset(
    {"target", "probe", "group", "description", "reason", "state", "stat", "instance", "job", "zone", "check"}
)


def _label_problems(doc: Document, t: TargetSettings, base: Path) -> list[ConfigProblem]:
    out = []
    for name in t.labels:
        if not _LABEL.match(name) or name.startswith("__"):
            out.append(doc.problem((*base, "labels", name), f"{name!r} is not a valid label name", key=True))
        elif name in RESERVED_LABELS:
            out.append(doc.problem((*base, "labels", name), f"label {name!r} is reserved by vigia", key=True))
    return out


def _schedule(t: TargetSettings, raw: FileSettings, calendar: Calendar) -> Schedule | None:
    """The target's own hours, else its group's; None: the service is meant to serve always."""
    group = raw.groups.get(t.group)
    hours = t.hours if t.hours is not None else group.hours if group is not None else None
    return None if hours is None else Schedule(WeekPlan.parse(hours), calendar, t.id)


def _settings(
    doc: Document, t: TargetSettings, base: Path, problems: list[ConfigProblem]
) -> tuple[ProbeKind, Settings] | None:
    """The target's probe kind and its settings, validated by the kind's model; None after saying why."""
    kind = REGISTRY.get(t.probe)
    extra = dict(t.model_extra or {})
    if kind is None:
        problems.append(
            doc.problem((*base, "probe"), f"unknown probe kind {t.probe!r} (known: {', '.join(sorted(REGISTRY))})")
        )
        return None
    for key in extra:
        if key != kind.name:
            msg = "unknown key"
            if key in REGISTRY:
                msg += f": this target's probe is {kind.name!r}, so its settings go under '{kind.name}:'"
            elif any(w in key.lower() for w in SECRET_WORDS):
                msg += ": secrets are never written inline, use a *_file or *_env key"
            problems.append(doc.problem((*base, key), msg, key=True))
    section = extra.get(kind.name, {})
    if kind.name not in extra and required(kind.settings):
        problems.append(
            doc.problem((*base, kind.name), f"missing required key (settings of the {kind.name} probe)", key=True)
        )
        return None
    try:
        return kind, convert(kind.settings, section if section is not None else {})
    except SpecError as exc:
        problems += spec_problems(doc, exc, (*base, kind.name))
        return None


def resolve_targets(
    doc: Document,
    raw: FileSettings,
    entries: list[tuple[int, TargetSettings]],
    problems: list[ConfigProblem],
    calendar: Calendar,
) -> list[Target]:
    out: list[Target] = []
    seen: dict[str, int] = {}
    d = raw.defaults
    for i, t in entries:
        base: Path = ("targets", i)
        if t.id in seen:
            first_line = doc.where(("targets", seen[t.id], "id"))[0]
            problems.append(doc.problem((*base, "id"), f"duplicate target id {t.id!r} (first at line {first_line})"))
        else:
            seen[t.id] = i
        problems += _label_problems(doc, t, base)
        checked = _settings(doc, t, base, problems)
        if checked is None:
            continue
        kind, settings = checked
        timed = timing(t, d)
        if timed["timeout"] >= timed["interval"]:
            where = (*base, "timeout") if t.timeout is not None else ("defaults", "timeout")
            problems.append(
                doc.problem(
                    where,
                    f"timeout ({format_duration(timed['timeout'])}) must be shorter than the interval "
                    f"({format_duration(timed['interval'])}) of target {t.id!r}",
                )
            )
        schedule, labels, count = _schedule(t, raw, calendar), dict(t.labels), packets(settings, d)
        out.append(Target(t.id, kind.name, t.group, labels, t.description, **timed, packets=count, settings=settings,
                          schedule=schedule))  # fmt: skip
    if raw.defaults.timeout >= raw.defaults.interval:
        problems.append(doc.problem(("defaults", "timeout"), "timeout must be shorter than interval"))
    return out
