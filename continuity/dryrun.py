"""A drill's steps in words, placeholders filled, for `vigia drill run --dry-run`: nothing runs."""

from __future__ import annotations

from continuity import commands
from continuity.plan import CommandStep, Drill, FileStep, HttpStep, ProbeStep, SqlStep, WaitStep


def steps(drill: Drill) -> list[str]:
    """What would run, step by step, with placeholders filled; nothing is executed."""
    lines = []
    for phase, phase_steps in drill.phases().items():
        for i, step in enumerate(phase_steps):
            what = step.type
            if isinstance(step, CommandStep):
                what = "command " + " ".join(commands.fill(step.argv, drill.params))
            elif isinstance(step, ProbeStep):
                what = f"probe {step.probe} {step.settings}"
            elif isinstance(step, HttpStep):
                what = f"http {step.method} {step.url}"
            elif isinstance(step, WaitStep):
                what = f"wait {step.duration:g}s"
            elif isinstance(step, FileStep):
                what = f"file {step.path}"
            elif isinstance(step, SqlStep):
                what = f"sql {step.query}"
            lines.append(f"{phase}[{i}] {step.name or step.type}: {what} (timeout {step.timeout:g}s)")
    return lines
