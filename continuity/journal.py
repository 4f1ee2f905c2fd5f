"""The drill journal: append-only JSON lines, hash-chained, with crash markers and evidence files.

Each line holds one finished run and the sha256 of the previous line, and its own hash covers
both, so editing, removing or reordering any run breaks the chain from there on
(``verify()``). A marker file is written, synced, before a drill disrupts anything and
removed after its run is journaled: a marker found at start-up is a drill the process did not
finish, whose rollback must run and whose run is then journaled as interrupted.

Appends from several processes (the daemon and a manual ``vigia drill run``) are serialised
with an exclusive lock on the journal file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


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

    def append(self, record: dict[str, Any]) -> str:
        """Add a finished run; returns its hash. Durable when this returns."""
        with open(self.file, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                prev, seq = GENESIS, 0
                for raw in fh:
                    if raw.strip():
                        prev = json.loads(raw)["hash"]
                        seq += 1
                entry = {"seq": seq + 1, "prev": prev, "run": record}
                digest = hashlib.sha256(canonical(entry)).hexdigest()
                fh.seek(0, os.SEEK_END)
                fh.write(canonical({**entry, "hash": digest}) + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return digest

    def runs(self, drill: str | None = None) -> Iterator[dict[str, Any]]:
        if not self.file.exists():
            return
        with open(self.file, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    run = json.loads(raw)["run"]
                    if drill is None or run.get("drill") == drill:
                        yield run

    def verify(self) -> tuple[int, list[ChainProblem]]:
        """(runs checked, problems); no problems means no line was edited, removed or reordered."""
        problems: list[ChainProblem] = []
        if not self.file.exists():
            return 0, problems
        prev, count = GENESIS, 0
        with open(self.file, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                count += 1
                try:
                    line = json.loads(raw)
                    body = {"seq": line["seq"], "prev": line["prev"], "run": line["run"]}
                    stored = line["hash"]
                except (ValueError, KeyError, TypeError):
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
                    problems.append(
                        ChainProblem(n, f"run {line['run'].get('run_id', '?')} was edited after it was journaled")
                    )
                prev = stored
        return count, problems

    # -- crash markers -------------------------------------------------------

    def begin(self, run_id: str, marker: dict[str, Any]) -> None:
        tmp = self.markers / f".{run_id}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(canonical(marker))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.markers / f"{run_id}.json")
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
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        return str(path.relative_to(self.dir)), hashlib.sha256(data).hexdigest()


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
