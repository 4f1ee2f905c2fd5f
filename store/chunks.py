"""Raw results of a finished hour, kept as one compressed chunk per target and hour.

A raw row costs about 300 bytes on PostgreSQL (instance, target and probe as text, values as
JSON, two index entries); a month of one-minute checks of a national inventory is then hundreds of
gigabytes. Once an hour is rolled up, its rows are folded into one row per target: columns of
float64 (times, durations, each value key) whose bytes are transposed (all first bytes, then all
second bytes...) before zlib, so the sign and exponent bytes that repeat from check to check
compress away, as in Blosc or Gorilla. Nothing is rounded: a chunk decodes to exactly the values
that were written. Reasons, messages, labels and series are kept sparse (only where present).

Reads (rollups, reports) see raw rows and chunks alike through ``read``.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from store.backends import insert_for
from store.schema import result_chunks, results

FORMAT = 1
_HEAD = struct.Struct("<BI")  # format, length of the JSON header
_WIDTH = 8  # bytes of a float64


@dataclass(frozen=True, slots=True)
class RawRow:
    """One stored check, from a raw row or decoded from a chunk; ``data`` is decoded."""

    target: str
    probe: str
    ts: float
    duration: float
    success: bool
    reason: str = ""
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def _shuffle(raw: bytes) -> bytes:
    return b"".join(raw[i::_WIDTH] for i in range(_WIDTH))


def _unshuffle(planes: bytes) -> bytes:
    n = len(planes) // _WIDTH
    out = bytearray(len(planes))
    for i in range(_WIDTH):
        out[i::_WIDTH] = planes[i * n : (i + 1) * n]
    return bytes(out)


def encode(rows: Sequence[RawRow]) -> bytes:
    """One target's rows of one hour (oldest first) as a chunk."""
    keys = sorted({k for r in rows for k in r.data.get("values", {})})
    probes = sorted({r.probe for r in rows})
    head: dict[str, Any] = {"n": len(rows), "keys": keys, "probes": probes}
    sparse: dict[str, dict[str, Any]] = {"reason": {}, "message": {}, "probe": {}, "extra": {}}
    for i, r in enumerate(rows):
        if r.reason:
            sparse["reason"][str(i)] = r.reason
        if r.message:
            sparse["message"][str(i)] = r.message
        if r.probe != probes[0]:
            sparse["probe"][str(i)] = r.probe
        extra = {k: v for k, v in r.data.items() if k != "values"}
        if extra:
            sparse["extra"][str(i)] = extra
    head.update({k: v for k, v in sparse.items() if v})
    columns = array("d", (r.ts for r in rows))
    columns.extend(r.duration for r in rows)
    for key in keys:  # a value a check did not report is NaN (stored values are always finite)
        columns.extend(r.data.get("values", {}).get(key, math.nan) for r in rows)
    text = json.dumps(head, separators=(",", ":")).encode()
    success = bytes(1 if r.success else 0 for r in rows)
    body = _HEAD.pack(FORMAT, len(text)) + text + success + _shuffle(columns.tobytes())
    return zlib.compress(body, 6)


def _columns(target: str, blob: bytes) -> tuple[dict[str, Any], bytes, array[float]]:
    """A chunk's header, success flags and float64 columns (times, durations, then each key's)."""
    body = zlib.decompress(blob)
    fmt, size = _HEAD.unpack_from(body)
    if fmt != FORMAT:
        raise ValueError(f"chunk of target {target!r}: unknown format {fmt}")
    head: dict[str, Any] = json.loads(body[_HEAD.size : _HEAD.size + size])
    n = int(head["n"])
    at = _HEAD.size + size
    columns = array("d")
    columns.frombytes(_unshuffle(body[at + n :]))
    return head, body[at : at + n], columns


def decode(target: str, blob: bytes) -> list[RawRow]:
    head, success, columns = _columns(target, blob)
    n, keys = int(head["n"]), list(head["keys"])
    reasons, messages = head.get("reason", {}), head.get("message", {})
    probes, extras = head.get("probe", {}), head.get("extra", {})
    first = head["probes"][0]
    by_key = [(key, columns[(2 + j) * n : (3 + j) * n]) for j, key in enumerate(keys)]
    out = []
    for i in range(n):
        values = {key: col[i] for key, col in by_key if not math.isnan(col[i])}
        key_i = str(i) if (reasons or messages or probes or extras) else ""
        data: dict[str, Any] = dict(extras[key_i]) if key_i in extras else {}
        if values:
            data["values"] = values
        out.append(
            RawRow(
                target,
                probes.get(key_i, first),
                columns[i],
                columns[n + i],
                success[i] == 1,
                reasons.get(key_i, ""),
                messages.get(key_i, ""),
                data,
            )
        )
    return out


def durations(
    conn: sa.Connection, instance: str, start: float, end: float, targets: Iterable[str]
) -> Iterator[tuple[str, str, float]]:
    """(target, probe, seconds) of each successful check in [start, end): a month of a hundred
    services is millions of checks, so chunks give up only their time, duration and success
    columns here, without a row object each."""
    r, c = results.c, result_chunks.c
    wanted = list(targets)
    raw_q = sa.select(r.target, r.probe, r.duration).where(
        r.instance == instance, r.ts >= start, r.ts < end, r.success, r.target.in_(wanted)
    )
    yield from ((t, p, float(d)) for t, p, d in conn.execute(raw_q))
    chunk_q = sa.select(c.target, c.payload).where(
        c.instance == instance, c.hour > start - 3600, c.hour < end, c.target.in_(wanted)
    )
    for target, payload in conn.execute(chunk_q):
        head, success, columns = _columns(target, payload)
        n, probes, first = int(head["n"]), head.get("probe", {}), head["probes"][0]
        for i in range(n):
            if success[i] == 1 and start <= columns[i] < end:
                yield target, probes.get(str(i), first) if probes else first, columns[n + i]


def _raw(row: sa.Row[Any]) -> RawRow:
    return RawRow(
        row.target, row.probe, row.ts, row.duration, bool(row.success), row.reason, row.message,
        json.loads(row.data or "{}"),
    )  # fmt: skip


def read(
    conn: sa.Connection,
    instance: str,
    start: float,
    end: float,
    targets: Iterable[str] | None = None,
    *,
    successes_only: bool = False,
) -> list[RawRow]:
    """Every stored check of ``instance`` in [start, end), raw and chunked, oldest first."""
    r, c = results.c, result_chunks.c
    raw_q = sa.select(results).where(r.instance == instance, r.ts >= start, r.ts < end)
    chunk_q = sa.select(c.target, c.payload).where(c.instance == instance, c.hour > start - 3600, c.hour < end)
    wanted = None if targets is None else list(targets)
    if wanted is not None:
        raw_q = raw_q.where(r.target.in_(wanted))
        chunk_q = chunk_q.where(c.target.in_(wanted))
    if successes_only:
        raw_q = raw_q.where(r.success)
    out = [_raw(row) for row in conn.execute(raw_q)]
    for target, payload in conn.execute(chunk_q):
        out.extend(
            row for row in decode(target, payload) if start <= row.ts < end and (row.success or not successes_only)
        )
    out.sort(key=lambda row: (row.ts, row.target))
    return out


def compact(conn: sa.Connection, dialect: str, instance: str, hour: float, rows: Sequence[RawRow]) -> int:
    """Fold the raw rows of [hour, hour + 3600) into chunks, one per target, and delete them.

    ``rows`` are that hour's raw rows (the rollup has just read them). A chunk already there (the
    hour compacted once, then a late row arrived) is left alone and the late row stays raw.
    """
    by_target: dict[str, list[RawRow]] = {}
    for row in rows:
        by_target.setdefault(row.target, []).append(row)
    if not by_target:
        return 0
    made = (
        conn.execute(
            insert_for(dialect, result_chunks).on_conflict_do_nothing().returning(result_chunks.c.target),
            [
                {"instance": instance, "target": t, "hour": hour, "checks": len(rs), "payload": encode(rs)}
                for t, rs in by_target.items()
            ],
        )
        .scalars()
        .all()
    )
    r = results.c
    folded = list(made)
    for i in range(0, len(folded), 500):
        conn.execute(
            results.delete().where(
                r.instance == instance, r.ts >= hour, r.ts < hour + 3600, r.target.in_(folded[i : i + 500])
            )
        )
    return sum(len(by_target[t]) for t in folded)
