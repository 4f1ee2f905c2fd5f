"""The continuity plan as data: services with their RTO/RPO, and the drills that test them.

A plan is validated whole before anything runs; every problem names the file,
line, column and key, like the daemon's configuration.
"""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, ValidationError, field_validator, model_validator

from kernel.cron import crontab_trigger
from kernel.errors import ConfigError, ConfigProblem
from kernel.model import Duration, Strict
from kernel.paths import beside
from kernel.spec import SpecError, convert
from kernel.yamlsource import Document, Path, load, pydantic_problems
from probes import REGISTRY
from probes.anchoring import anchored
from probes.settings import Secret, Settings

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# A placeholder value may only be a plain word: no spaces, quotes, shell metacharacters or a leading dash.
PLACEHOLDER_VALUE = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_.:/@+=-]{0,199}$")
PLACEHOLDER = re.compile(r"^\{([a-z][a-z0-9_]{0,40})\}$")
_PARTIAL = re.compile(r"\{[a-z][a-z0-9_]*\}")


class _Step(Strict):
    name: str = ""
    timeout: Duration = 30.0


class ProbeStep(_Step):
    """Run one of vigia's probes (icmp, tcp, http, dns, tls, ...) once; passes when it succeeds."""

    type: Literal["probe"]
    probe: str
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> ProbeStep:
        kind = REGISTRY.get(self.probe)
        if kind is None:
            raise ValueError(f"unknown probe {self.probe!r} (known: {', '.join(sorted(REGISTRY))})")
        try:
            convert(kind.settings, self.settings)
        except SpecError as exc:
            raise ValueError(f"settings of the {self.probe} probe: {exc}") from None
        return self

    def probe_settings(self) -> Settings:
        return convert(REGISTRY[self.probe].settings, self.settings)


class CommandStep(_Step):
    """Run a program: argv list, absolute path, never a shell, its own process group."""

    type: Literal["command"]
    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict, description="fixed variables for the program")
    env_allow: list[str] = Field(
        default_factory=lambda: ["PATH", "LANG", "LC_ALL", "TZ"],
        description="variables passed through from vigia's environment",
    )
    expect_exit: list[int] = Field(default_factory=lambda: [0])
    output_limit: int = Field(default=65536, ge=1024, le=16 * 1_048_576)
    starts_service: bool = Field(
        default=False,
        description="the program starts a daemon of its own (pg_ctl start, a service script that forks): "
        "what it leaves running is the service and survives the step; otherwise nothing does",
    )

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        if not argv[0].startswith("/"):
            raise ValueError(f"argv[0] must be an absolute path (no PATH lookup), not {argv[0]!r}")
        for i, item in enumerate(argv):
            if _PARTIAL.search(item) and not PLACEHOLDER.match(item):
                raise ValueError(f"argv[{i}] {item!r}: a placeholder must be a whole argument, like '{{unit}}'")
        return argv

    def placeholders(self) -> list[str]:
        return [m.group(1) for m in (PLACEHOLDER.match(a) for a in self.argv) if m]


class HttpStep(_Step):
    """An HTTP action (e.g. a failover API call); passes on an expected status."""

    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    url: str
    body: str = ""
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class WaitStep(_Step):
    type: Literal["wait"]
    duration: Duration


class SqlStep(_Step):
    """A query whose first column of the first row is checked; may give the recovery point."""

    type: Literal["sql"]
    url: Secret
    query: str = Field(min_length=1)
    expect: Literal["not_null", "positive", "equals"] = "not_null"
    equals: str | int | float | None = None
    recovery_point: bool = Field(default=False, description="the value is the timestamp of the last good data")


class FileStep(_Step):
    """A file that must exist, be recent (max_age, or 'rpo'), large enough, or have a given sha256."""

    type: Literal["file"]
    path: str
    max_age: Duration | Literal["rpo"] | None = None
    min_size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    recovery_point: bool = Field(default=False, description="the file's mtime is the recovery point")


Step = Annotated[ProbeStep | CommandStep | HttpStep | WaitStep | SqlStep | FileStep, Field(discriminator="type")]


class Service(Strict):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    owner: str = ""
    tier: int = Field(default=2, ge=0, le=5)
    rto: Duration
    rpo: Duration
    mtd: Duration = Field(description="maximum tolerable downtime")
    depends_on: list[str] = Field(default_factory=list)
    test_interval: Duration = 365 * 86400.0

    @model_validator(mode="after")
    def _order(self) -> Service:
        if self.rto > self.mtd:
            raise ValueError("rto cannot exceed mtd (the maximum tolerable downtime)")
        return self


class Schedule(Strict):
    cron: str
    timezone: str = "America/Bogota"


class Drill(Strict):
    id: str = Field(pattern=_ID)
    service: str
    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$", description="restart, failover, backup-restore, ...")
    exercise: Literal["tabletop", "functional", "full-scale"]
    objective: str = Field(min_length=1)
    success_criteria: list[str] = Field(default_factory=list)
    participants: list[str] = Field(default_factory=list)
    schedule: Schedule | None = None
    misfire_grace: Duration = 3600.0
    max_duration: Duration
    disruptive: bool | None = Field(default=None, description="defaults to true when there is a method")
    params: dict[str, str] = Field(default_factory=dict, description="values for {placeholders} in commands")
    verify_poll: Duration = 2.0
    preconditions: list[Step] = Field(default_factory=list)
    method: list[Step] = Field(default_factory=list)
    verify: list[Step] = Field(default_factory=list)
    rollback: list[Step] = Field(default_factory=list)
    post_verify: list[Step] = Field(default_factory=list)

    @property
    def is_disruptive(self) -> bool:
        return bool(self.method) if self.disruptive is None else self.disruptive

    def phases(self) -> dict[str, list[Any]]:
        return {"preconditions": self.preconditions, "method": self.method, "verify": self.verify,
                "rollback": self.rollback, "post_verify": self.post_verify}  # fmt: skip


class PlanFile(Strict):
    version: str = Field(min_length=1, description="the plan's own version, journaled with every run")
    title: str = "Plan de continuidad de los servicios tecnológicos"
    entity: str = ""


@dataclass(frozen=True)
class Plan:
    file: str
    version: str
    sha256: str
    title: str
    entity: str
    services: dict[str, Service]
    drills: dict[str, Drill]
    triggers: dict[str, CronTrigger]

    def drill(self, drill_id: str) -> Drill:
        return self.drills[drill_id]


def parse(file: str, text: str | None = None) -> Plan:
    """Read and validate a plan file; raise ConfigError listing every problem."""
    if text is None:
        try:
            with open(file, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError([ConfigProblem(file, None, None, "", f"cannot read: {exc.strerror}")]) from None
    doc = load(file, text)
    if doc.data is None or doc.problems:
        raise ConfigError(doc.problems or [ConfigProblem(file, None, None, "", "empty plan")])
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "the plan must be a mapping")])
    problems: list[ConfigProblem] = []
    data = dict(doc.data)
    raw_services = data.pop("services", [])
    raw_drills = data.pop("drills", [])
    head = PlanFile(version="?")
    try:
        head = PlanFile.model_validate(data)
    except ValidationError as exc:
        problems += pydantic_problems(doc, exc, ())
    services = _items(doc, "services", raw_services, Service, problems)
    drills = _items(doc, "drills", raw_drills, Drill, problems)
    _check_services(doc, services, problems)
    triggers = _check_drills(doc, drills, services, problems)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.column or 0, p.key)))
    return Plan(
        file=file,
        version=head.version,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        title=head.title,
        entity=head.entity,
        services={s.id: s for _, s in services},
        drills={d.id: _rooted(d, file) for _, d in drills},
        triggers=triggers,
    )


def _rooted(drill: Drill, file: str) -> Drill:
    """The drill with its secrets' and file steps' relative paths relative to the plan's folder
    (kernel.paths)."""
    drill = anchored(drill, file)

    def fix(step: Any) -> Any:
        return step.model_copy(update={"path": beside(file, step.path)}) if isinstance(step, FileStep) else step

    return drill.model_copy(update={p: [fix(s) for s in steps] for p, steps in drill.phases().items()})


def _items(doc: Document, key: str, raw: object, model: type[Any], problems: list[ConfigProblem]) -> list[Any]:
    if not isinstance(raw, list):
        problems.append(doc.problem((key,), f"{key} must be a list"))
        return []
    out = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        try:
            obj = model.model_validate(item)
        except ValidationError as exc:
            problems += pydantic_problems(doc, exc, (key, i))
            continue
        if obj.id in seen:
            first = doc.where((key, seen[obj.id], "id"))[0]
            problems.append(doc.problem((key, i, "id"), f"duplicate id {obj.id!r} (first at line {first})"))
            continue
        seen[obj.id] = i
        out.append((i, obj))
    return out


def _check_services(doc: Document, services: list[tuple[int, Service]], problems: list[ConfigProblem]) -> None:
    known = {s.id: i for i, s in services}
    graph = {s.id: s.depends_on for _, s in services}
    for i, s in services:
        for j, dep in enumerate(s.depends_on):
            if dep not in known:
                problems.append(doc.problem(("services", i, "depends_on", j), f"unknown service {dep!r}"))
    # Depth-first search for cycles; each cycle reported once, at its first service.
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, []):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [node, dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    problems.append(
                        doc.problem(
                            ("services", known[cycle[0]], "depends_on"), f"dependency cycle: {' -> '.join(cycle)}"
                        )
                    )
            elif state.get(dep) is None:
                visit(dep, [*path, dep])
        state[node] = 2

    for sid in graph:
        if state.get(sid) is None:
            visit(sid, [sid])


def _check_drills(
    doc: Document, drills: list[tuple[int, Drill]], services: list[tuple[int, Service]], problems: list[ConfigProblem]
) -> dict[str, CronTrigger]:
    by_id = {s.id: s for _, s in services}
    triggers: dict[str, CronTrigger] = {}
    for i, d in drills:
        base: Path = ("drills", i)
        service = by_id.get(d.service)
        if service is None:
            problems.append(doc.problem((*base, "service"), f"unknown service {d.service!r}"))
        elif service.rto > d.max_duration:
            problems.append(
                doc.problem(
                    (*base, "max_duration"),
                    (
                        f"max_duration is shorter than the service's RTO ({service.rto:g}s): "
                        "the drill would stop before recovery could be shown"
                    ),
                )
            )
        if d.is_disruptive and not d.rollback:
            problems.append(doc.problem(base, "a disruptive drill needs rollback steps (they run whatever happens)"))
        if d.exercise == "tabletop" and d.method:
            problems.append(doc.problem((*base, "method"), "a tabletop exercise disrupts nothing: it has no method"))
        for name, value in d.params.items():
            if not PLACEHOLDER_VALUE.match(value):
                problems.append(
                    doc.problem(
                        (*base, "params", name),
                        (
                            f"value {value!r} is not allowed: placeholders take plain words "
                            "(letters, digits, _ . : / @ + = -, not starting with '-' or '.')"
                        ),
                    )
                )
        for phase, steps in d.phases().items():
            for j, step in enumerate(steps):
                if isinstance(step, CommandStep):
                    for name in step.placeholders():
                        if name not in d.params:
                            problems.append(doc.problem((*base, phase, j, "argv"), f"no param {name!r} for {{{name}}}"))
        if d.schedule is not None:
            try:
                tz = zoneinfo.ZoneInfo(d.schedule.timezone)
                triggers[d.id] = crontab_trigger(d.schedule.cron, tz)
            except (ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
                problems.append(doc.problem((*base, "schedule"), f"invalid schedule: {exc}"))
    return triggers
