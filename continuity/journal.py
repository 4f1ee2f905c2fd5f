"""The drill journal: append-only JSON lines, hash-chained, with crash markers and evidence files.

Each line holds one finished run and the sha256 of the previous line, and its own hash covers
both, so editing, removing or reordering any run breaks the chain from there on
(``verify()``). A marker file is written, synced, before a drill disrupts anything and
removed after its run is journaled: a marker found at start-up is a drill the process did not
finish, whose rollback must run and whose run is then journaled as interrupted.

Appends from several processes (the daemon and a manual ``vigia drill run``) are serialised
with an exclusive lock on the journal file.

The end of the chain is anchored by a head file beside it (``journal.head``: the last sequence
number and hash, rewritten atomically after each append), so removing the last line, or editing
a run and hashing the chain again, is detected too. A crash or a full disk can leave a torn last
line (no newline): it is a crash artifact, not tampering. The next writer sets its bytes aside in
``journal.torn-<time>`` and journals a recovery entry saying so; readers skip it meanwhile, so no
command and no daemon stops on it. Strings are journaled with URL passwords masked.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kernel.files import writing
from kernel.redact import redact

GENESIS = "0" * 64
KINDS = ("run", "recovery")  # what an entry holds besides seq, prev and hash


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ChainProblem:
    line: int
    message: str


class Journal:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.file = self.dir / "journal.jsonl"
        self.markers = self.dir / "in-progress"
        self.evidence = self.dir / "evidence"
        for d in (self.dir, self.markers, self.evidence):
            d.mkdir(parents=True, exist_ok=True)

    # -- runs ----------------------------------------------------------------

    @property
    def head_file(self) -> Path:
        return self.dir / "journal.head"

    def append(self, record: dict[str, Any]) -> str:
        """Add a finished run; returns its hash. Durable when this returns."""
        return self._append("run", _redacted(record))

    def _append(self, kind: str, payload: dict[str, Any]) -> str:
        with writing(self.file), open(self.file, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._set_torn_tail_aside(fh)
                digest = self._write_entry(fh, kind, payload)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return digest

    def _write_entry(self, fh: Any, kind: str, payload: dict[str, Any]) -> str:
        fh.seek(0)
        prev, seq = GENESIS, 0
        for raw in fh:
            if raw.strip():
                try:
                    prev = json.loads(raw)["hash"]
                except (ValueError, KeyError, TypeError):
                    prev = ""  # an edited line: verify() names it; the chain goes on from here
                seq += 1
        entry = {"seq": seq + 1, "prev": prev, kind: payload}
        digest = hashlib.sha256(canonical(entry)).hexdigest()
        fh.seek(0, os.SEEK_END)
        fh.write(canonical({**entry, "hash": digest}) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
        self._write_head(seq + 1, digest)
        return digest

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.dir / ".journal.head.tmp"
        with open(tmp, "wb") as fh:
            fh.write(canonical({"seq": seq, "hash": digest}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_file)
        _sync_dir(self.dir)

    def _set_torn_tail_aside(self, fh: Any) -> None:
        """Called with the lock held: move a torn last line to a side file and journal that."""
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":  # the usual case: one byte read, not the whole journal
            return
        fh.seek(0)
        data = fh.read()
        start = data.rfind(b"\n") + 1
        torn = data[start:]
        side = self.dir / f"journal.torn-{time.time_ns()}"
        with open(side, "wb") as out:
            out.write(torn)
            out.flush()
            os.fsync(out.fileno())
        fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())
        self._write_entry(
            fh,
            "recovery",
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "what": "a torn last line (a crash or a full disk while writing) was set aside",
                "bytes": len(torn),
                "sha256": hashlib.sha256(torn).hexdigest(),
                "kept_in": side.name,
            },
        )

    def repair(self) -> bool:
        """Set a torn last line aside now (the daemon does at start); False if the file is not writable."""
        if not self.file.exists():
            return True
        if not os.access(self.file, os.W_OK):
            return False
        with open(self.file, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._set_torn_tail_aside(fh)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return True

    def runs(self, drill: str | None = None) -> Iterator[dict[str, Any]]:
        """Journaled runs, oldest first; a torn or unreadable line is skipped (verify() names it)."""
        if not self.file.exists():
            return
        with open(self.file, "rb") as fh:
            for raw in fh:
                if not raw.strip() or not raw.endswith(b"\n"):
                    continue
                try:
                    run = json.loads(raw).get("run")
                except (ValueError, AttributeError):
                    continue
                if isinstance(run, dict) and (drill is None or run.get("drill") == drill):
                    yield run

    def verify(self) -> tuple[int, list[ChainProblem]]:
        """(entries checked, problems); no problems means no line was edited, removed or reordered."""
        problems: list[ChainProblem] = []
        if not self.file.exists():
            return 0, problems
        self.repair()
        prev, count = GENESIS, 0
        with open(self.file, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                count += 1
                if not raw.endswith(b"\n"):
                    problems.append(ChainProblem(n, "a torn last line (crash artifact) not yet set aside"))
                    continue
                try:
                    line = json.loads(raw)
                    kind = next(k for k in KINDS if k in line)
                    body = {"seq": line["seq"], "prev": line["prev"], kind: line[kind]}
                    stored = line["hash"]
                except (ValueError, KeyError, TypeError, StopIteration):
                    problems.append(ChainProblem(n, "not a journal entry (unreadable JSON or missing fields)"))
                    prev = ""
                    continue
                if line["seq"] != count:
                    problems.append(
                        ChainProblem(
                            n, f"sequence {line['seq']} where {count} was expected (a run was removed or reordered)"
                        )
                    )
                if line["prev"] != prev:
                    problems.append(
                        ChainProblem(
                            n,
                            "does not follow the previous entry (an entry before it was edited, removed or reordered)",
                        )
                    )
                if hashlib.sha256(canonical(body)).hexdigest() != stored:
                    what = line[kind].get("run_id", "?") if isinstance(line[kind], dict) else "?"
                    problems.append(ChainProblem(n, f"{kind} {what} was edited after it was journaled"))
                prev = stored
        problems += self._check_head(count, prev)
        return count, problems

    def _check_head(self, count: int, last: str) -> list[ChainProblem]:
        try:
            head = json.loads(self.head_file.read_bytes())
            seq, digest = int(head["seq"]), str(head["hash"])
        except FileNotFoundError:
            if count == 0:
                return []
            return [ChainProblem(count, "journal.head is missing: the end of the chain cannot be checked")]
        except (ValueError, KeyError, TypeError):
            return [ChainProblem(count, "journal.head is unreadable: the end of the chain cannot be checked")]
        if (seq, digest) == (count, last):
            return []
        if seq == count - 1:
            return []  # a crash between the entry's fsync and the head's: the next append rewrites it
        if seq > count:
            return [ChainProblem(count, f"the journal ends at entry {count}, its head says {seq}: runs were removed")]
        return [ChainProblem(count, "the last entry's hash differs from the head's: the chain was rewritten")]

    # -- crash markers -------------------------------------------------------

    def begin(self, run_id: str, marker: dict[str, Any]) -> None:
        tmp, path = self.markers / f".{run_id}.tmp", self.markers / f"{run_id}.json"
        with writing(path):
            with open(tmp, "wb") as fh:
                fh.write(canonical(marker))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _sync_dir(self.markers)

    def end(self, run_id: str) -> None:
        try:
            (self.markers / f"{run_id}.json").unlink()
        except FileNotFoundError:
            return
        _sync_dir(self.markers)

    def unfinished(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.markers.glob("*.json")):
            try:
                out.append(json.loads(path.read_bytes()))
            except ValueError:
                out.append({"run_id": path.stem, "unreadable": True})
        return out

    # -- one drill at a time per service, across processes ---------------------

    def try_lock_service(self, service: str) -> int | None:
        """An exclusive lock on the service (the daemon and a manual run share it); None if held."""
        locks = self.dir / "locks"
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / f"{service}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @staticmethod
    def unlock_service(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    # -- evidence ------------------------------------------------------------

    def save_evidence(self, run_id: str, name: str, data: bytes) -> tuple[str, str]:
        """Store a piece of evidence; returns (path relative to the journal dir, sha256)."""
        folder = self.evidence / run_id
        path = folder / name
        with writing(path):
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return str(path.relative_to(self.dir)), hashlib.sha256(data).hexdigest()


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
