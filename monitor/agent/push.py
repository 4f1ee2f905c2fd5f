"""Outbox to centre: the oldest results in a compressed batch, forgotten only when the centre's
answer acknowledges them (the highest sequence it stored).

What each answer means to the agent:
- 200 with the centre's acknowledgement: forget up to the acknowledged sequence (never past the
  batch), and the drops the batch reported; a 200 without one (a captive portal's page, a proxy
  that is not the centre) is no answer: rows kept;
- 413: the batch was too large: the next one is half as large;
- 400: something in the batch is refused for good (a field, a time): the batch is split until the
  refused result is found, which alone is dropped, counted and reported, never silently;
- 401, 403: this agent's token is not (or no longer) good: rows kept, asked again slowly;
- 429, 5xx, no answer: rows kept, the next attempt after a backoff with jitter (the HA group's
  other URLs first: monitor.agent.centre).
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import time
from dataclasses import dataclass

from monitor.agent.centre import Centre
from store.outbox import Outbox, Pending

log = logging.getLogger("vigia.agent")

MAX_RESULTS, MAX_BYTES = 2000, 1 << 20
BACKOFF_FIRST, BACKOFF_MAX = 2.0, 300.0


@dataclass
class Identity:
    """What every batch says of its agent besides results."""

    zone: str
    version: str
    boot_time: float
    clock_synced: bool


class Pusher:
    def __init__(self, outbox: Outbox, centre: Centre, identity: Identity) -> None:
        self.outbox, self.centre, self.identity = outbox, centre, identity
        self.clock = time.time
        self.limit = MAX_RESULTS
        self.failures = 0
        self.last_answer = 0

    def push_once(self) -> float:
        """One batch (if any); seconds to wait before the next attempt (0: send again at once)."""
        pending = self.outbox.pending(self.limit, MAX_BYTES)
        if not pending.results and not pending.dropped:
            return -1.0  # nothing to send: the caller waits its push interval
        status, answer = self._send(pending)
        self.last_answer = status
        ack = answer.get("ack")
        if status == 200 and isinstance(ack, int) and not isinstance(ack, bool):
            self.failures = 0
            self.limit = min(MAX_RESULTS, self.limit * 2)
            # Never past what this batch carried: an answer is believed for the rows it was about.
            self.outbox.acknowledge(min(ack, pending.last_seq), pending.dropped)
            return 0.0
        if status == 200:  # a 200 that is not the centre's (a captive portal's page, a proxy): kept
            log.warning(
                "an answer without an acknowledgement (not the centre's?): %d results kept", len(pending.results)
            )
            status = 0
        if status == 413 and self.limit > 1:
            self.limit = max(1, self.limit // 2)
            return 0.0
        if status == 400 and len(pending.results) > 1:
            self.limit = max(1, len(pending.results) // 2)  # halve until the refused one is alone
            return 0.0
        if status == 400:
            [refused] = pending.results
            log.error("the centre refuses result %s for good (%s): dropped and reported", refused.get("seq"),
                      answer.get("detail", ""))  # fmt: skip
            self.outbox.discard(int(refused["seq"]))  # type: ignore[call-overload]
            self.limit = MAX_RESULTS
            return 0.0
        self.failures += 1
        wait = min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** min(self.failures, 10))
        if status in (401, 403):
            log.error("the centre refuses this agent's token (HTTP %d): results kept, asking again later", status)
            wait = BACKOFF_MAX
        return wait * random.uniform(0.5, 1.0)  # jitter: a hundred agents back from a cut do not knock together

    def _send(self, pending: Pending) -> tuple[int, dict[str, object]]:
        ident = self.identity
        body = {"zone": ident.zone, "version": ident.version, "sent_at": self.clock(), "boot_time": ident.boot_time,
                "clock_synced": ident.clock_synced, "dropped": pending.dropped, "backlog": self.outbox.backlog().rows,
                "results": pending.results}  # fmt: skip
        data = gzip.compress(json.dumps(body, separators=(",", ":")).encode(), compresslevel=6)
        answer = self.centre.exchange("POST", f"/api/v1/agents/{ident.zone}/results", data,
                                      {"Content-Type": "application/json", "Content-Encoding": "gzip"})  # fmt: skip
        try:
            parsed = json.loads(answer.body) if answer.body else {}
        except ValueError:
            parsed = {}
        if answer.status != 200 and answer.status:
            log.warning("batch of %d results: HTTP %d %s", len(pending.results), answer.status, answer.body[:200])
        return answer.status, parsed if isinstance(parsed, dict) else {}
