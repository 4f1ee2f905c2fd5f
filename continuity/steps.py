"""What each kind of drill step does: one function a step type, found by the step's class.

The runner owns the phases, the clock and the journal; a step here only fills its
``StepResult`` (ok, detail, exit code, evidence, recovery point). A failing step raises or sets
``ok = False``; the runner turns either into data in the journal, never a crash.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from continuity import commands
from continuity.journal import Journal
from continuity.plan import CommandStep, Drill, FileStep, HttpStep, Plan, ProbeStep, SqlStep, WaitStep
from continuity.records import RunRecord, StepResult, iso
from kernel.errors import DrillError
from probes.engine import ProbeEngine
from probes.usage import sqlquery

EXCERPT = 2048


@dataclass(frozen=True)
class StepContext:
    """What a step may touch: its plan, drill and run, the journal (evidence) and the probe engine."""

    plan: Plan
    drill: Drill
    record: RunRecord
    journal: Journal
    probe_engine: Callable[[], ProbeEngine]
    # Called with (process group, its start time) as a command starts: a crash from then on
    # leaves a group that recovery stops before rolling back.
    started_process: Callable[[tuple[int, int | None]], None]


def execute(ctx: StepContext, res: StepResult, step: Any) -> None:
    run = _BY_TYPE.get(type(step))
    if run is None:  # pragma: no cover - the plan's discriminated union allows nothing else
        raise DrillError(f"unknown step type {step.type}")
    run(ctx, res, step)


def _command(ctx: StepContext, res: StepResult, step: CommandStep) -> None:
    out = commands.run(
        commands.fill(step.argv, ctx.drill.params),
        env=commands.environment(step.env_allow, step.env),
        timeout=step.timeout,
        output_limit=step.output_limit,
        on_start=lambda pgid, started: ctx.started_process((pgid, started)),
        keep_descendants=step.starts_service,
    )
    res.exit_code = out.exit_code
    res.output_excerpt = out.output[:EXCERPT].decode("utf-8", "replace")
    res.output_sha256 = out.output_sha256
    # The evidence file keeps the first output_limit bytes; output_sha256 covers the whole output.
    res.evidence, res.evidence_sha256 = ctx.journal.save_evidence(
        ctx.record.run_id, f"{res.phase}-{res.index}.txt", out.output
    )
    if out.error:
        res.ok, res.detail = False, out.error
    elif out.timed_out:
        res.ok, res.detail = False, f"killed at the {step.timeout:g}s deadline (whole process group)"
    else:
        res.ok = out.exit_code in step.expect_exit
        res.detail = f"exit {out.exit_code}"


def _probe(ctx: StepContext, res: StepResult, step: ProbeStep) -> None:
    result = ctx.probe_engine().run_one(f"drill:{ctx.drill.id}", step.probe, step.probe_settings(), step.timeout)
    res.ok = result.success
    res.detail = result.message or ("ok" if result.success else result.reason)


def _wait(ctx: StepContext, res: StepResult, step: WaitStep) -> None:
    time.sleep(step.duration)
    res.ok, res.detail = True, f"waited {step.duration:g}s"


def _http(ctx: StepContext, res: StepResult, step: HttpStep) -> None:
    parts = urlsplit(step.url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=step.timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = step.body.encode() if step.body else None
        conn.request(step.method, path, body=body, headers={"User-Agent": "vigia-drill/1"})
        res.exit_code = conn.getresponse().status
    finally:
        conn.close()
    res.ok = res.exit_code in step.expect_status
    res.detail = f"status {res.exit_code}"


def _file(ctx: StepContext, res: StepResult, step: FileStep) -> None:
    try:
        st = os.stat(step.path)
    except FileNotFoundError:
        res.ok, res.detail = False, f"{step.path} does not exist"
        return
    problems = []
    age = time.time() - st.st_mtime
    limit = ctx.plan.services[ctx.drill.service].rpo if step.max_age == "rpo" else step.max_age
    if isinstance(limit, float) and age > limit:
        problems.append(f"{age:.0f}s old, more than {limit:g}s")
    if step.min_size is not None and st.st_size < step.min_size:
        problems.append(f"{st.st_size} bytes, fewer than {step.min_size}")
    if step.sha256 is not None:
        digest = _sha256_file(step.path)
        res.output_sha256 = digest
        if digest != step.sha256:
            problems.append("sha256 differs")
    if step.recovery_point:
        res.recovery_point = ctx.record.recovery_point = iso(st.st_mtime)
    res.ok = not problems
    res.detail = "; ".join(problems) or f"{st.st_size} bytes, {age:.0f}s old"


def _sql(ctx: StepContext, res: StepResult, step: SqlStep) -> None:
    value = sqlquery.scalar(step.url.read(), step.query, step.timeout)
    if step.expect == "not_null":
        res.ok = value is not None
    elif step.expect == "positive":
        res.ok = value is not None and float(value) > 0
    else:
        res.ok = value == step.equals or str(value) == str(step.equals)
    res.detail = f"value {value!r}"[:300]
    if step.recovery_point and value is not None:
        res.recovery_point = ctx.record.recovery_point = iso(_timestamp(value))


def _timestamp(value: object) -> float:
    """A recovery point as a query returns it: a datetime (naive is UTC), epoch seconds or ISO text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_BY_TYPE: dict[type, Callable[[StepContext, StepResult, Any], None]] = {
    CommandStep: _command,
    ProbeStep: _probe,
    WaitStep: _wait,
    HttpStep: _http,
    FileStep: _file,
    SqlStep: _sql,
}
