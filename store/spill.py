"""Rows the store could not take, kept in a file beside it until it can (a full disk, a database
away at shutdown), and read back at the next start.

The file is written when the daemon stops with rows not stored, and read back, written and deleted
at the next start. On a full disk there is no room for it, so a reserve (a file of zeros allocated
at start, ``RESERVE_BYTES`` or what the disk can spare) is given back first: the spill is written
into the room it held. The results table refuses a row it already has (target, time), so a spill
read twice (a crash between the write and the delete) stores nothing twice.

Format: zlib-compressed JSON, one object {"version": 1, "batches": [...]}, written to a temporary
file, synced and renamed, so a half-written spill is never read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.findings import Finding
from probes.result import ProbeResult, Series
from store.records import StateChange, ZoneSample

log = logging.getLogger(__name__)

VERSION = 1
# Room kept for the spill: a day of 2,000 checks a minute compresses to a few megabytes.
RESERVE_BYTES = 8 * 2**20


@dataclass
class Batch:
    """What one cycle (or job) hands to the store: written in one transaction."""

    results: list[ProbeResult]
    changes: list[StateChange]
    zone_samples: list[ZoneSample] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.results or self.changes or self.zone_samples or self.findings)

    def size(self) -> int:
        return len(self.results) + len(self.changes) + len(self.zone_samples) + len(self.findings)

    def halves(self) -> tuple[Batch, Batch]:
        """Two batches of about half the items each, in order: the items of the lists taken in turn
        (results, changes, samples, findings) up to the half, then the rest (both hold some when
        the batch holds two items or more)."""
        left = self.size() // 2
        r = min(len(self.results), left)
        c = min(len(self.changes), left - r)
        z = min(len(self.zone_samples), left - r - c)
        f = left - r - c - z
        first = Batch(self.results[:r], self.changes[:c], self.zone_samples[:z], self.findings[:f])
        return first, Batch(self.results[r:], self.changes[c:], self.zone_samples[z:], self.findings[f:])

    @staticmethod
    def joined(parts: Sequence[Batch]) -> Batch:
        """One batch of ``parts`` in their order."""
        out = Batch([], [])
        for p in parts:
            out.results += p.results
            out.changes += p.changes
            out.zone_samples += p.zone_samples
            out.findings += p.findings
        return out

    def described(self) -> dict[str, Any]:
        """The batch as JSON can hold it (the spill file's form)."""
        return {
            "results": [_result(r) for r in self.results],
            "changes": [asdict(c) for c in self.changes],
            "zone_samples": [asdict(z) for z in self.zone_samples],
            "findings": [asdict(f) for f in self.findings],
        }


def _result(r: ProbeResult) -> dict[str, Any]:
    return {
        "target": r.target, "probe": r.probe, "ts": r.started_at.timestamp(), "duration": r.duration,
        "success": r.success, "reason": r.reason, "message": r.message, "values": r.values, "labels": r.labels,
        "series": [[s.name, [list(p) for p in s.labels], s.value] for s in r.series],
    }  # fmt: skip


def _result_of(d: dict[str, Any]) -> ProbeResult:
    series = tuple(Series(n, tuple((str(k), str(v)) for k, v in labels), float(v)) for n, labels, v in d["series"])
    return ProbeResult(
        d["target"], d["probe"], datetime.fromtimestamp(d["ts"], UTC), float(d["duration"]), bool(d["success"]),
        d["reason"], d["message"], {k: float(v) for k, v in d["values"].items()}, dict(d["labels"]), series,
    )  # fmt: skip


def encode(batches: Sequence[Batch]) -> bytes:
    doc = {
        "version": VERSION,
        "batches": [b.described() for b in batches],
    }
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), 6)


def decode(data: bytes) -> list[Batch]:
    doc = json.loads(zlib.decompress(data))
    if doc.get("version") != VERSION:
        raise ValueError(f"spill version {doc.get('version')!r}, this vigia reads {VERSION}")
    return [
        Batch(
            [_result_of(r) for r in b["results"]],
            [StateChange(**c) for c in b["changes"]],
            [ZoneSample(**z) for z in b["zone_samples"]],
            [Finding(**f) for f in b["findings"]],
        )
        for b in doc["batches"]
    ]


class Spill:
    """The spill file of one store and the reserve kept for it."""

    def __init__(self, path: str, reserve_bytes: int = RESERVE_BYTES) -> None:
        self.path = path
        self.reserve_path = path + ".reserve"
        self.reserve_bytes = reserve_bytes

    def reserve(self) -> int:
        """Allocate the reserve: RESERVE_BYTES, or a quarter of the free space when that is less
        (a small disk keeps most of its room for the store); its size."""
        with contextlib.suppress(FileNotFoundError):
            held = os.path.getsize(self.reserve_path)
            if held:
                return held
        try:
            st = os.statvfs(os.path.dirname(self.path) or ".")
            free = st.f_bavail * st.f_frsize
        except OSError:
            free = self.reserve_bytes
        size = min(self.reserve_bytes, free // 4)
        while size >= 64 * 1024:
            try:
                fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    os.posix_fallocate(fd, 0, size)
                finally:
                    os.close(fd)
                return size
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(self.reserve_path)
                size //= 2
        return 0

    def save(self, batches: Sequence[Batch]) -> bool:
        """Write ``batches`` (into the reserve's room); whether they are safely on disk."""
        data = encode(batches)
        with contextlib.suppress(OSError):
            os.unlink(self.reserve_path)
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            return True
        except OSError as exc:
            log.error("cannot write the spill file %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False

    def load(self) -> list[Batch]:
        """The batches spilled by an earlier run (none without a file); an unreadable file is set
        aside with a log line, never deleted."""
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return []
        try:
            return decode(data)
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            aside = f"{self.path}.unreadable-{int(datetime.now(UTC).timestamp())}"
            os.replace(self.path, aside)
            log.error("the spill file %s cannot be read (%s): set aside as %s", self.path, exc, aside)
            return []

    def clear(self) -> None:
        """The spilled batches are stored: the file goes."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
