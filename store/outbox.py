"""An agent's outbox: every result it measured, numbered, kept on disk until the centre says it
has stored it.

Written before any send (a result exists once it is here), read oldest first, deleted only when
acknowledged; a restart, a cut backhaul or a centre that answers garbage loses nothing. Bounded in
age and size (a zone cut for weeks must not fill the box's card): past either bound the oldest
rows go, and how many went is counted and sent with the next batch, never silent. Sequence
numbers are never reused (the last one is kept apart from the rows), so the centre's unique key
on (zone, sequence) makes every delivery exactly once. A new outbox (the box replaced, its card
reflashed, the file lost) numbers from the clock's microseconds at its creation: above every number
an earlier outbox of the zone used (it would have had to keep a million results a second), which
the centre, counting them as deliveries it already has, would otherwise drop as replays. Only a new
outbox made while the clock is far behind (a box without a battery-backed clock, not yet synced)
could number below an earlier one's; the agent reports that clock state with every batch.

The standard library's sqlite3, not SQLAlchemy: the agent runs on a small board and stays lean.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import StoreError

DEFAULT_MAX_AGE = 7 * 86400.0
DEFAULT_MAX_BYTES = 200 * 2**20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('bytes', 0), ('dropped_unsent', 0), ('dropped_total', 0);
"""


@dataclass(frozen=True)
class Pending:
    """A batch to send: results (each a JSON object with its seq), the drops not yet reported."""

    results: list[dict[str, object]]
    dropped: int

    @property
    def last_seq(self) -> int:
        return int(self.results[-1]["seq"]) if self.results else 0  # type: ignore[call-overload]


@dataclass(frozen=True)
class Backlog:
    rows: int
    bytes: int
    oldest: float | None
    dropped_total: int


class Outbox:
    def __init__(
        self,
        path: str | Path,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.max_age, self.max_bytes, self.clock = Path(path), max_age, max_bytes, clock
        self._lock = threading.Lock()  # the measuring loop puts, the pusher reads and acknowledges
        # Results measured but not kept (the disk full, say): counted here until a write succeeds,
        # then recorded as drops and reported like any other (never silent).
        self.unkept = 0
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a power cut is what this box meets
            # Rows are written once and read once, oldest first: a page cache buys nothing and its
            # default (2 MB) is a twentieth of the agent's memory budget.
            self._db.execute("PRAGMA cache_size=-256")
            self._db.executescript(_SCHEMA)
            # Only a new outbox takes the clock: an existing one goes on from its last number.
            self._db.execute("INSERT OR IGNORE INTO counters VALUES ('last_seq', ?)", (int(self.clock() * 1e6),))
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the agent's outbox: {e}") from None

    def close(self) -> None:
        self._db.close()

    def _counter(self, name: str) -> int:
        return int(self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    def _add(self, name: str, delta: int) -> None:
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (delta, name))

    def put(self, results: Iterable[dict[str, object]]) -> list[int]:
        """Number and keep ``results`` (each JSON-able, with its ``at``); their sequence numbers.
        When they cannot be kept they are counted as drops (``unkept``) and StoreError says why."""
        given = list(results)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                seq = self._counter("last_seq")
                numbered, size = [], 0
                if self.unkept:
                    self._add("dropped_unsent", self.unkept)
                    self._add("dropped_total", self.unkept)
                for r in given:
                    seq += 1
                    body = json.dumps({**r, "seq": seq}, separators=(",", ":"), ensure_ascii=False)
                    numbered.append((seq, float(r["at"]), body))  # type: ignore[arg-type]
                    size += len(body)
                self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?)", numbered)
                self._db.execute("UPDATE counters SET value = ? WHERE name = 'last_seq'", (seq,))
                self._add("bytes", size)
                self._bound()
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                self.unkept += len(given)
                raise StoreError(f"{self.path}: cannot keep {len(given)} results in the outbox (counted as dropped, "
                                 f"{self.unkept} so far): {e}") from None  # fmt: skip
            self.unkept = 0
            return [n for n, _, _ in numbered]

    def _bound(self) -> None:
        """Drop the oldest rows past the age or size bound, counting them."""
        dropped = self._db.execute("DELETE FROM outbox WHERE at < ? RETURNING length(body)",
                                   (self.clock() - self.max_age,)).fetchall()  # fmt: skip
        excess = self._counter("bytes") - sum(n for (n,) in dropped) - self.max_bytes
        if excess > 0:  # the oldest rows whose sizes cover the excess
            cut, freed = 0, 0
            for seq, size in self._db.execute("SELECT seq, length(body) FROM outbox ORDER BY seq"):
                cut, freed = seq, freed + size
                if freed >= excess:
                    break
            dropped += self._db.execute("DELETE FROM outbox WHERE seq <= ? RETURNING length(body)", (cut,)).fetchall()
        if dropped:
            self._add("bytes", -sum(n for (n,) in dropped))
            self._add("dropped_unsent", len(dropped))
            self._add("dropped_total", len(dropped))

    def pending(self, max_results: int, max_bytes: int) -> Pending:
        """The oldest results not yet acknowledged, within both limits (at least one if any)."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM outbox ORDER BY seq LIMIT ?", (max_results,)).fetchall()
            out: list[dict[str, object]] = []
            size = 0
            for (body,) in rows:
                if out and size + len(body) > max_bytes:
                    break
                out.append(json.loads(body))
                size += len(body)
            return Pending(out, self._counter("dropped_unsent"))

    def acknowledge(self, last_seq: int, dropped_reported: int) -> None:
        """The centre stored everything up to ``last_seq`` and heard of ``dropped_reported`` drops."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                gone = self._db.execute("DELETE FROM outbox WHERE seq <= ? RETURNING length(body)",
                                        (last_seq,)).fetchall()  # fmt: skip
                self._add("bytes", -sum(n for (n,) in gone))
                self._db.execute(
                    "UPDATE counters SET value = max(0, value - ?) WHERE name = 'dropped_unsent'", (dropped_reported,)
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise StoreError(f"{self.path}: cannot forget acknowledged results: {e}") from None

    def discard(self, seq: int) -> None:
        """A result the centre refuses for good: gone, and counted as a drop to report."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                gone = self._db.execute("DELETE FROM outbox WHERE seq = ? RETURNING length(body)", (seq,)).fetchall()
                if gone:
                    self._add("bytes", -gone[0][0])
                    self._add("dropped_unsent", 1)
                    self._add("dropped_total", 1)
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise StoreError(f"{self.path}: cannot drop a refused result: {e}") from None

    def backlog(self) -> Backlog:
        with self._lock:
            rows, oldest = self._db.execute("SELECT count(*), min(at) FROM outbox").fetchone()
            return Backlog(int(rows), self._counter("bytes"), oldest, self._counter("dropped_total"))

    def _rollback(self) -> None:
        # Nothing was begun, or the connection is gone: the next call says so.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
