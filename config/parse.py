"""Reading a configuration file: every problem collected (not just the first), each naming
file, line, column and key path."""

from __future__ import annotations

import os
import zoneinfo
from typing import Any

from pydantic import ValidationError

from config.model import Config
from config.sections import CalendarSettings, FileSettings, TargetSettings
from config.targets import resolve_targets
from config.windows import resolve_windows
from config.zones import resolve_zones
from domain.schedule import Calendar, ClosedDay
from domain.target import Target
from domain.windows import Maintenance
from domain.zones import Zone
from kernel.errors import ConfigError, ConfigProblem
from kernel.paths import beside
from kernel.yamlsource import Document, load, pydantic_problems, without_echoes
from probes.anchoring import anchored
from probes.engine import sockets_needed


def parse(file: str, text: str | None = None, *, state_dir: str | None = None) -> Config:
    """Read and validate a configuration file; raise ConfigError listing every problem."""
    doc = load(file, text)
    if doc.problems and doc.data is None:
        raise ConfigError(doc.problems)
    problems = list(doc.problems)
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "the file must be a mapping of settings"))
        raise ConfigError(problems)
    # Targets are validated one by one so that one bad target hides no other problem.
    data = dict(doc.data)
    items, windows, zone_items = data.pop("targets", []), data.pop("maintenance", []), data.pop("zones", [])
    raw = FileSettings()
    try:
        raw = _rooted(FileSettings.model_validate(data), file)
    except ValidationError as exc:
        problems += pydantic_problems(doc, exc, ())
    calendar = calendar_of(raw.calendar)
    targets = resolve_targets(doc, raw, _entries(doc, items, problems), problems, calendar)
    zones = resolve_zones(doc, raw, zone_items, targets, problems, calendar)  # adds the zones' own targets
    targets, zones = anchored(targets, file), anchored(zones, file)  # their secrets' files (kernel.paths)
    known = {t.id for t in targets}
    problems += _closed_days(doc, raw, known, {z.id for z in zones})
    problems += [
        doc.problem(("datacenter", "hosts", host), f"no target {host!r} is configured", key=True)
        for host in raw.datacenter.hosts
        if host not in known
    ]
    try:
        raw = raw.model_copy(update={"maintenance": FileSettings.model_validate({"maintenance": windows}).maintenance})
        maintenance = resolve_windows(doc, raw, targets, zones, problems)
    except ValidationError as exc:
        problems += pydantic_problems(doc, exc, ())
        maintenance = []
    problems += _capacity(doc, raw, targets, "probing" in data) + _listeners(doc, raw) + _paths(doc, raw, state_dir)
    if problems:
        raise ConfigError(_sorted(without_echoes(doc, problems)))
    return _config(file, raw, state_dir, targets, maintenance, zones, calendar)


def _config(
    file: str,
    raw: FileSettings,
    state_dir: str | None,
    targets: list[Target],
    maintenance: list[Maintenance],
    zones: list[Zone],
    calendar: Calendar,
) -> Config:
    """The resolved configuration the daemon runs, from a file with no problems."""
    return Config(
        file=file,
        timezone=zoneinfo.ZoneInfo(raw.timezone),
        instance=raw.instance,
        state_dir=state_dir or raw.state_dir or os.environ.get("STATE_DIRECTORY", "/var/lib/vigia"),
        log_level=raw.log_level,
        defaults=raw.defaults,
        probing=raw.probing,
        store=raw.store,
        web=raw.web,
        targets=tuple(targets),
        maintenance=tuple(maintenance),
        zones=tuple(zones),
        continuity_plan=raw.continuity.plan if raw.continuity else None,
        drills_paused=raw.continuity.paused if raw.continuity else False,
        watchdog=tuple(raw.zone_defaults.watchdog),
        radius=raw.radius,
        security=raw.security,
        reports=raw.reports,
        datacenter=raw.datacenter,
        action_plan=tuple(raw.action_plan),
        ha_group=raw.ha_group,
        cluster=raw.cluster,
        status_page=raw.status_page,
        calendar=calendar,
    )


def _entries(doc: Document, items: object, problems: list[ConfigProblem]) -> list[tuple[int, TargetSettings]]:
    """The targets' entries, each validated alone (its index kept for the messages)."""
    if not isinstance(items, list):
        problems.append(doc.problem(("targets",), "targets must be a list"))
        return []
    entries = []
    for i, item in enumerate(items):
        try:
            entries.append((i, TargetSettings.model_validate(item)))
        except ValidationError as exc:
            problems += pydantic_problems(doc, exc, ("targets", i))
    return entries


def _capacity(doc: Document, raw: FileSettings, targets: list[Target], explicit: bool) -> list[ConfigProblem]:
    """Sockets the checks may hold at once (every peer hanging) within probing.max_in_flight."""
    sockets = sockets_needed([(t.probe, t.settings) for t in targets])
    if sockets <= raw.probing.max_in_flight:
        return []
    where = ("probing", "max_in_flight") if explicit else ("targets",)
    return [
        doc.problem(
            where,
            f"the {len(targets)} checks may hold {sockets} sockets at once (every peer hanging), more than "
            f"probing.max_in_flight ({raw.probing.max_in_flight}): raise it, or some checks would wait "
            "behind hung peers",
        )
    ]


def _listeners(doc: Document, raw: FileSettings) -> list[ConfigProblem]:
    if raw.status_page is None or raw.status_page.listen != raw.web.listen:
        return []
    return [
        doc.problem(
            ("status_page", "listen"),
            f"{raw.status_page.listen} is web.listen too: the public status page needs a listener of its "
            "own, so /metrics and the API are never served to the public",
        )
    ]


def _rooted(raw: FileSettings, file: str) -> FileSettings:
    """Every relative path the file names, relative to the file's folder (kernel.paths): the
    sections' own paths here, every secret's file through ``anchored``."""

    def moved(section: Any, **paths: str | None) -> Any:
        return section.model_copy(update={k: beside(file, v) for k, v in paths.items() if v})

    update: dict[str, Any] = {
        "state_dir": beside(file, raw.state_dir),
        "store": moved(raw.store, url_file=raw.store.url_file),
        "web": moved(raw.web, config_file=raw.web.config_file),
        "reports": moved(raw.reports, directory=raw.reports.directory),
    }
    if raw.status_page is not None:
        update["status_page"] = moved(raw.status_page, directory=raw.status_page.directory)
    if raw.continuity is not None:
        update["continuity"] = moved(raw.continuity, plan=raw.continuity.plan)
    return anchored(raw.model_copy(update=update), file)


def calendar_of(settings: CalendarSettings) -> Calendar:
    closed = tuple(ClosedDay(c.date, c.reason, frozenset(c.zones), frozenset(c.targets)) for c in settings.closed_days)
    return Calendar(settings.country, {h.date: h.name for h in settings.extra_holidays}, closed)


def _closed_days(doc: Document, raw: FileSettings, targets: set[str], zones: set[str]) -> list[ConfigProblem]:
    """A closed day naming a zone or target that does not exist would close nothing, silently."""
    out = []
    for i, c in enumerate(raw.calendar.closed_days):
        for kind, names, known in (("zones", c.zones, zones), ("targets", c.targets, targets)):
            for j, name in enumerate(names):
                if name not in known:
                    what = "zone" if kind == "zones" else "target"
                    where = ("calendar", "closed_days", i, kind, j)
                    out.append(doc.problem(where, f"no {what} {name!r} is configured"))
    return out


def _paths(doc: Document, raw: FileSettings, state_dir: str | None) -> list[ConfigProblem]:
    """Paths the daemon will need, checked now rather than found broken at start."""
    out = []
    if raw.store.url_file:
        try:
            with open(raw.store.url_file, encoding="utf-8") as fh:
                fh.read(1)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            out.append(doc.problem(("store", "url_file"), f"cannot read {raw.store.url_file}: {why}"))
    if raw.continuity is not None:
        plan = raw.continuity.plan
        try:
            with open(plan, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            out.append(doc.problem(("continuity", "plan"), f"cannot read {plan}: {exc.strerror}"))
    chosen = state_dir or raw.state_dir
    if chosen and os.path.exists(chosen) and not os.path.isdir(chosen):
        where = ("state_dir",) if raw.state_dir and not state_dir else ()
        out.append(doc.problem(where, f"state_dir {chosen} exists and is not a directory"))
    return out


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0, p.key))


def check(file: str) -> list[ConfigProblem]:
    """Every problem in ``file``; empty when it is valid."""
    try:
        parse(file)
    except ConfigError as exc:
        return exc.problems
    return []
