"""What the agent checks: listed by its centre (GET /api/v1/agents/<zone>/checks), asked again
with the last ETag, kept on disk so a restart during a backhaul cut still measures.

Each check's settings are validated by its probe's own model before it runs; a check the agent
cannot run is skipped with a log line, never taken for the whole list.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from domain.target import Target
from kernel.errors import FileError
from kernel.files import write_atomic
from kernel.spec import SpecError, convert
from monitor.agent.centre import Centre
from probes import REGISTRY

log = logging.getLogger("vigia.agent")


def targets_of(document: bytes) -> list[Target]:
    """The checks of a checks document as targets the cycle runner probes (ids are check names)."""
    body = json.loads(document)
    out = []
    for c in body.get("checks", []):
        kind = REGISTRY.get(str(c.get("probe")))
        if kind is None:
            log.error("check %s: probe %r unknown to this agent: skipped", c.get("check"), c.get("probe"))
            continue
        try:
            settings = convert(kind.settings, c["settings"])
        except (SpecError, KeyError, TypeError) as e:
            log.error("check %s: settings refused: %s", c.get("check"), e)
            continue
        packets = int(getattr(settings, "packets", 1) or 1)
        out.append(Target(str(c["check"]), kind.name, "agent", {}, "", float(c["interval"]), float(c["timeout"]),
                          1, 1, packets, settings))  # fmt: skip
    return out


class Checks:
    def __init__(self, centre: Centre, zone: str, state_dir: Path) -> None:
        self.centre, self.zone = centre, zone
        self.cache = state_dir / "checks.json"
        self.etag = ""
        self.targets: list[Target] = []
        if self.cache.exists():
            try:
                self.targets = targets_of(self.cache.read_bytes())
                log.info("%d checks from %s (the last list the centre gave)", len(self.targets), self.cache)
            except (OSError, ValueError) as e:
                log.error("%s unreadable (%s): waiting for the centre's list", self.cache, e)

    def refresh(self) -> bool:
        """Ask the centre; whether the list changed."""
        headers = {"If-None-Match": self.etag} if self.etag else {}
        answer = self.centre.exchange("GET", f"/api/v1/agents/{self.zone}/checks", headers=headers)
        if answer.status == 304:
            return False
        if answer.status != 200:
            if answer.status:
                log.warning("the centre did not list the checks: HTTP %d %s", answer.status, answer.body[:200])
            return False
        try:
            targets = targets_of(answer.body)
        except ValueError as e:
            log.error("the centre's list of checks is not JSON (%s): keeping the last one", e)
            return False
        try:
            write_atomic(self.cache, answer.body)
        except FileError as e:
            log.error("%s: the list runs but is not kept for a restart", e)
        self.etag, self.targets = answer.etag, targets
        log.info("%d checks from the centre", len(targets))
        return True
